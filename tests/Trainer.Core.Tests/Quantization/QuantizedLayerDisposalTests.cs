using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Quantization;

public class QuantizedLayerDisposalTests
{
    [Fact]
    public void Quantizer_state_outlives_the_scope_it_was_made_in_and_training_steps_leave_no_live_tensors()
    {
        var model = ConvNet();
        var x = randn(4, 1, 6, 6);
        using (NewDisposeScope())
        {
            var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
            session.Apply(new QuantizationPlan("test", [
                new LayerQuantization("conv", new(4, QuantMethod.Lsq), new(4, QuantMethod.Lsq), null),
                new LayerQuantization("fc", new(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel),
                    new(8, QuantMethod.MovingAverage), new(8, QuantMethod.MinMax))], 0, true, false, ""));
        }
        model.train();
        Step(model, x); // the first step creates the gradients and initialises the input step
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        for (int i = 0; i < 3; i++) Step(model, x);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        model.eval();
        using (NewDisposeScope()) Assert.Equal([4, 5], model.call(x).shape);
    }

    private static void Step(nn.Module<Tensor, Tensor> model, Tensor x)
    {
        using var scope = NewDisposeScope();
        model.call(x).pow(2).sum().backward();
    }
}
