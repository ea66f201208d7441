using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class QuantParamsTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(17)]
    public void Bits_outside_1_to_16_are_rejected_with_the_value_and_range(int bits)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new QuantParams(bits));
        Assert.Contains($"Quantization bits must be between 1 and 16; got {bits}.", e.Message);
        Assert.Equal("bits", e.ParamName);
    }

    [Theory]
    [InlineData(8, true, false, -128, 127)]
    [InlineData(8, true, true, -127, 127)]
    [InlineData(8, false, false, 0, 255)]
    [InlineData(4, true, false, -8, 7)]
    [InlineData(1, true, false, -1, 0)]
    [InlineData(16, true, false, -32768, 32767)]
    public void Grid_generalises_qint8_and_quint8(int bits, bool signed, bool narrow, int qmin, int qmax)
    {
        var p = new QuantParams(bits, signed: signed, narrowRange: narrow);
        Assert.Equal(qmin, p.QMin);
        Assert.Equal(qmax, p.QMax);
    }

    [Fact]
    public void Symmetric_scale_follows_pytorch_min_max_observer()
    {
        // PyTorch: scale = max(-min, max) / ((qmax - qmin) / 2) = 2 / 127.5 for qint8; zero point 0.
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(-2f, 1f, new QuantParams(8));
        Assert.Equal(2f / 127.5f, s.item<float>());
        Assert.Equal(0L, zp.item<long>());
        Assert.Equal(ScalarType.Float32, s.dtype);
        Assert.Equal(ScalarType.Int64, zp.dtype);
    }

    [Fact]
    public void Symmetric_narrow_range_divides_by_2_pow_bits_minus_1_minus_1()
    {
        var (s, _) = QuantRange.ComputeScaleZeroPoint(-2f, 1f, new QuantParams(8, narrowRange: true));
        Assert.Equal(2f / 127f, s.item<float>());
        var (s4, _) = QuantRange.ComputeScaleZeroPoint(-0.5f, 3f, new QuantParams(4));
        Assert.Equal(3f / 7.5f, s4.item<float>());
    }

    [Fact]
    public void Symmetric_unsigned_zero_point_is_128_as_quint8()
    {
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(-1f, 1f, new QuantParams(8, signed: false));
        Assert.Equal(1f / 127.5f, s.item<float>());
        Assert.Equal(128L, zp.item<long>());
    }

    [Fact]
    public void Affine_scale_and_zero_point_hand_computed()
    {
        // scale = 4/255; zp = -128 - round(-1 / (4/255)) = -128 - round(-63.75) = -64.
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(-1f, 3f, new QuantParams(8, QuantScheme.Affine));
        Assert.Equal(4f / 255f, s.item<float>());
        Assert.Equal(-64L, zp.item<long>());
        var (su, zpu) = QuantRange.ComputeScaleZeroPoint(-1f, 3f, new QuantParams(8, QuantScheme.Affine, signed: false));
        Assert.Equal(4f / 255f, su.item<float>());
        Assert.Equal(64L, zpu.item<long>());
    }

    [Fact]
    public void Range_is_widened_to_include_zero_and_scale_is_at_least_eps()
    {
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(0.5f, 2f, new QuantParams(8, QuantScheme.Affine));
        Assert.Equal(2f / 255f, s.item<float>());
        Assert.Equal(-128L, zp.item<long>());
        var (s0, zp0) = QuantRange.ComputeScaleZeroPoint(0f, 0f, new QuantParams(8, QuantScheme.Affine));
        Assert.Equal(QuantRange.Eps, s0.item<float>());
        Assert.Equal(-128L, zp0.item<long>());
    }

    [Fact]
    public void Per_channel_ranges_give_one_scale_per_channel()
    {
        using var min = tensor(new[] { -1f, -4f, 0f });
        using var max = tensor(new[] { 1f, 2f, 0f });
        var (s, zp) = QuantRange.ComputeScaleZeroPoint(min, max, new QuantParams(8, granularity: QuantGranularity.PerChannelAlong(0)));
        Assert.Equal(new[] { 1f / 127.5f, 4f / 127.5f, QuantRange.Eps }, s.data<float>().ToArray());
        Assert.Equal(new long[] { 0, 0, 0 }, zp.data<long>().ToArray());
    }
}
