using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class ObserverTests
{
    private static readonly QuantParams Affine8 = new(8, QuantScheme.Affine);

    [Fact]
    public void Min_max_tracks_the_extremes_of_all_batches()
    {
        using var obs = new MinMaxObserver(Affine8);
        using (NewDisposeScope())
        {
            obs.Observe(tensor(new[] { -1f, 0.5f, 2f }));
            obs.Observe(tensor(new[] { -3f, 1f }));
        }
        Assert.False(obs.Min!.IsInvalid); // state survives the caller's dispose scope
        Assert.Equal(-3f, obs.Min.item<float>());
        Assert.Equal(2f, obs.Max!.item<float>());
        var (s, zp) = obs.Params();
        Assert.Equal(5f / 255f, s.item<float>());
        Assert.Equal(-128L - (long)Math.Round(-3f / (5f / 255f), MidpointRounding.ToEven), zp.item<long>());
        Assert.Equal(2, obs.Batches);
    }

    [Fact]
    public void Moving_average_after_two_batches_is_exact()
    {
        using var obs = new MovingAverageMinMaxObserver(Affine8, 0.01);
        obs.Observe(tensor(new[] { -1f, 2f }));
        obs.Observe(tensor(new[] { -3f, 4f }));
        // min = -1 + 0.01 (-3 + 1) = -1.02; max = 2 + 0.01 (4 - 2) = 2.02.
        Assert.Equal(-1f + 0.01f * (-3f + 1f), obs.Min!.item<float>(), 6);
        Assert.Equal(2f + 0.01f * (4f - 2f), obs.Max!.item<float>(), 6);
        Assert.Equal(-1.02f, obs.Min.item<float>(), 6);
    }

    [Fact]
    public void Per_channel_min_max_along_axis_0()
    {
        using var obs = new MinMaxObserver(new QuantParams(8, granularity: QuantGranularity.PerChannelAlong(0)));
        obs.Observe(tensor(new[] { -1f, 2f, 0.5f, -4f, 1f, 3f }, new long[] { 2, 3 }));
        obs.Observe(tensor(new[] { -2f, 0f, 0f, 0f, 5f, 0f }, new long[] { 2, 3 }));
        Assert.Equal(new[] { -2f, -4f }, obs.Min!.data<float>().ToArray());
        Assert.Equal(new[] { 2f, 5f }, obs.Max!.data<float>().ToArray());
        var (s, _) = obs.Params();
        Assert.Equal(new[] { 2f / 127.5f, 5f / 127.5f }, s.data<float>().ToArray());
    }

    [Fact]
    public void Per_channel_moving_average_along_axis_1()
    {
        using var obs = new MovingAverageMinMaxObserver(new QuantParams(8, granularity: QuantGranularity.PerChannelAlong(1)), 0.5);
        obs.Observe(tensor(new[] { -1f, 2f, 1f, 4f }, new long[] { 2, 2 }));  // columns: [-1,1], [2,4]
        obs.Observe(tensor(new[] { -3f, 0f, 3f, 0f }, new long[] { 2, 2 }));  // columns: [-3,3], [0,0]
        Assert.Equal(new[] { -2f, 1f }, obs.Min!.data<float>().ToArray());
        Assert.Equal(new[] { 2f, 2f }, obs.Max!.data<float>().ToArray());
    }

    [Fact]
    public void Percentile_on_a_known_distribution_clips_outliers()
    {
        using var obs = new PercentileObserver(Affine8, 99.99);
        using var x = arange(0, 10001, dtype: ScalarType.Float32); // 0..10000: quantiles are the ranks
        obs.Observe(x);
        Assert.Equal(1f, obs.Min!.item<float>(), 3);
        Assert.Equal(9999f, obs.Max!.item<float>(), 3);
        // Second batch: 0..10000 shifted by 100 plus a huge outlier replacing the top value; the mean of the batch percentiles.
        using var y = x + 100;
        y[10000] = 1e9f;
        obs.Observe(y);
        Assert.Equal((1f + 101f) / 2, obs.Min.item<float>(), 3);
        Assert.Equal((9999f + 10099f) / 2, obs.Max.item<float>(), 1);
    }

    [Fact]
    public void Percentile_interpolates_linearly_per_channel()
    {
        using var obs = new PercentileObserver(new QuantParams(8, granularity: QuantGranularity.PerChannelAlong(0)), 90);
        obs.Observe(tensor(new[] { 0f, 10f, 20f, 30f, 40f, 0f, 1f, 2f, 3f, 4f }, new long[] { 2, 5 }));
        // torch.quantile(q=0.9) of [0,10,20,30,40]: position 3.6 → 36; q=0.1 → 4.
        Assert.Equal(new[] { 4f, 0.4f }, obs.Min!.data<float>().ToArray().Select(v => MathF.Round(v, 4)).ToArray());
        Assert.Equal(new[] { 36f, 3.6f }, obs.Max!.data<float>().ToArray().Select(v => MathF.Round(v, 4)).ToArray());
    }

    [Fact]
    public void Params_before_observe_and_after_dispose_are_errors()
    {
        var obs = new MinMaxObserver(Affine8);
        var e = Assert.Throws<InvalidOperationException>(() => obs.Params());
        Assert.Contains("MinMaxObserver has observed no batch", e.Message);
        obs.Observe(ones(3));
        var min = obs.Min!;
        obs.Dispose();
        Assert.True(min.IsInvalid);
        Assert.Throws<ObjectDisposedException>(() => obs.Observe(ones(3)));
    }

    [Fact]
    public void Observe_records_no_gradient()
    {
        using var obs = new MinMaxObserver(Affine8);
        using var x = tensor(new[] { -1f, 1f }).requires_grad_();
        obs.Observe(x);
        Assert.False(obs.Min!.requires_grad);
        Assert.False(obs.Max!.requires_grad);
    }
}
