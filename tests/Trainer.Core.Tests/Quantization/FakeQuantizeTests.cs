using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class FakeQuantizeTests
{
    private static Tensor Sample(long seed, params long[] shape)
    {
        using var g = new Generator((ulong)seed);
        return randn(shape, generator: g) * 1.5f;
    }

    [Theory]
    [InlineData(QuantScheme.Symmetric)]
    [InlineData(QuantScheme.Affine)]
    public void Eight_bit_forward_equals_torch_quantize_per_tensor_then_dequantize(QuantScheme scheme)
    {
        using var scope = NewDisposeScope();
        var x = Sample(1, 1000);
        var p = new QuantParams(8, scheme);
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(x.min(), x.max(), p);
        var reference = quantize_per_tensor(x, s.item<float>(), zp.item<long>(), ScalarType.QInt8).dequantize();
        var y = FakeQuantize.Apply(x, s, zp, p);
        Assert.True(y.eq(reference).all().item<bool>(), $"max diff {(y - reference).abs().max().item<float>()}");
        // Also against a clamp outside the observed range: values beyond the grid saturate.
        var wide = x * 3;
        var refWide = quantize_per_tensor(wide, s.item<float>(), zp.item<long>(), ScalarType.QInt8).dequantize();
        Assert.True(FakeQuantize.Apply(wide, s, zp, p).eq(refWide).all().item<bool>());
    }

    [Fact]
    public void Hand_computed_values_per_tensor()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -3f, -1f, 0.126f, 0.2f, 1f, 3f });
        var y = FakeQuantize.Apply(x, tensor(0.01f), tensor(0L), -128, 127);
        // 0.126/0.01 = 12.6 → 13; -3 → -128 (clamped); 3 → 127 (clamped).
        var expected = new[] { -128 * 0.01f, -100 * 0.01f, 13 * 0.01f, 20 * 0.01f, 100 * 0.01f, 127 * 0.01f };
        Assert.Equal(expected, y.data<float>().ToArray());
    }

    [Fact]
    public void Ste_gradient_is_identity_inside_the_range_and_zero_outside()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -3f, -1.2849f, -1f, 0.2f, 1f, 1.2749f, 1.2751f, 3f }).requires_grad_();
        var y = FakeQuantize.Apply(x, tensor(0.01f), tensor(0L), -128, 127);
        (y * tensor(new[] { 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f })).sum().backward();
        // round(x/s) in [-128, 127]: -1.2849 → -128 (in), 1.2749 → 127 (in), 1.2751 → 128 (out).
        Assert.Equal(new[] { 0f, 2f, 3f, 4f, 5f, 6f, 0f, 0f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Per_channel_along_axis_0_of_a_conv_weight_equals_torch_quantize_per_channel()
    {
        using var scope = NewDisposeScope();
        var w = Sample(2, 4, 3, 3, 3);
        w[2] = w[2] * 0.01f; // one channel with a much smaller range
        var p = new QuantParams(8, QuantScheme.Symmetric, QuantGranularity.PerChannelAlong(0));
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(w.amin(new long[] { 1, 2, 3 }), w.amax(new long[] { 1, 2, 3 }), p);
        Assert.Equal(new long[] { 4 }, s.shape);
        var reference = quantize_per_channel(w, s.to(ScalarType.Float64), zp, 0, ScalarType.QInt8).dequantize();
        var y = FakeQuantize.Apply(w, s, zp, p);
        Assert.True(y.eq(reference).all().item<bool>());
        for (int c = 0; c < 4; c++)
            Assert.True(y[c].eq(FakeQuantize.Apply(w[c], s[c], zp[c], -128, 127)).all().item<bool>());
        // The small channel keeps its own resolution. Its error is within one of its steps, not half: the symmetric
        // scale max/127.5 puts +max at 127.5, which PyTorch's grid clips to 127.
        Assert.True(s[2].item<float>() < s[0].item<float>() / 10);
        Assert.True((y[2] - w[2]).abs().max().item<float>() <= s[2].item<float>() * 1.0001f);
    }

    [Fact]
    public void Per_channel_along_axis_1_broadcasts_along_that_axis()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 0.5f, 0.5f, 1.5f, 1.5f }, new long[] { 2, 2 });
        var y = FakeQuantize.Apply(x, tensor(new[] { 1f, 0.2f }), tensor(new[] { 0L, 0L }), -128, 127, channelAxis: 1);
        // Column 0 (scale 1): 0.5 → 0, 1.5 → 2. Column 1 (scale 0.2): 2.5 → 2, 7.5 → 8 (half to even).
        Assert.Equal(new[] { 0f, 2 * 0.2f, 2f, 8 * 0.2f }, y.data<float>().ToArray());
    }

    [Fact]
    public void Wrong_number_of_scales_is_rejected()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentException>(() => FakeQuantize.Apply(zeros(3, 2), ones(2), zeros(2), -128, 127, 0));
        Assert.Contains("Expected 3 scales along axis 0; got 2.", e.Message);
    }
}
