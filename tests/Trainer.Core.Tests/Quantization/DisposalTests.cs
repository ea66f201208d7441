using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class DisposalTests
{
    [Fact]
    public void Primitives_leave_only_their_results_alive()
    {
        using var x = randn(new long[] { 8, 3, 3, 3 }, generator: new Generator(3));
        using var s = tensor(0.02f);
        using var zp = tensor(0L);
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var y = FakeQuantize.Apply(x, s, zp, -128, 127)) { }
        using (var y = LsqQuantizer.Apply(x, s, -128, 127)) { }
        using (var y = DoReFa.QuantizeWeights(x, 2)) { }
        using (var y = Binarize.ScaledWeights(x)) { }
        using (var y = Int8Storage.Dequantize(Int8Storage.Quantize(x, new QuantParams(8)))) { }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Observer_state_is_two_tensors_released_by_dispose()
    {
        using var x = randn(new long[] { 8, 3 }, generator: new Generator(4));
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var obs = new MovingAverageMinMaxObserver(new QuantParams(8, granularity: QuantGranularity.PerChannelAlong(0)));
        obs.Observe(x);
        obs.Observe(x);
        Assert.Equal(before + 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        obs.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
