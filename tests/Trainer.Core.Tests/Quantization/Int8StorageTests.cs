using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class Int8StorageTests
{
    public static TheoryData<int, QuantScheme, bool> Settings => new()
    {
        { 8, QuantScheme.Symmetric, false },
        { 8, QuantScheme.Affine, false },
        { 8, QuantScheme.Symmetric, true },
        { 8, QuantScheme.Affine, true },
        { 4, QuantScheme.Symmetric, true },
        { 3, QuantScheme.Affine, false },
    };

    [Theory]
    [MemberData(nameof(Settings))]
    public void Round_trip_equals_fake_quantize_bitwise(int bits, QuantScheme scheme, bool perChannel)
    {
        using var scope = NewDisposeScope();
        var w = randn(new long[] { 6, 4, 3, 3 }, generator: new Generator(11)) + 0.3f;
        var p = new QuantParams(bits, scheme, perChannel ? QuantGranularity.PerChannelAlong(0) : QuantGranularity.PerTensor);
        var stored = Int8Storage.Quantize(w, p);
        Assert.Equal(w.numel(), stored.Data.Length);
        Assert.Equal(perChannel ? 6 : 1, stored.Scales.Length);
        Assert.All(stored.Data, v => Assert.InRange(v, p.QMin, p.QMax));

        using var obs = new MinMaxObserver(p);
        obs.Observe(w);
        var (s, zp) = obs.Params();
        Assert.Equal(s.reshape(-1).data<float>().ToArray(), stored.Scales);
        var fake = FakeQuantize.Apply(w, s, zp, p);
        var back = Int8Storage.Dequantize(stored);
        Assert.Equal(w.shape, back.shape);
        Assert.True(back.eq(fake).all().item<bool>(), $"max diff {(back - fake).abs().max().item<float>()}");
    }

    [Fact]
    public void Stored_bytes_are_the_int_repr_of_torch_quantize_per_tensor()
    {
        using var scope = NewDisposeScope();
        var w = tensor(new[] { -1f, -0.5f, 0f, 0.25f, 1f });
        var stored = Int8Storage.Quantize(w, new QuantParams(8));
        // scale = 1/127.5f; -1 · (1/scale) lands just above -127.5 in float32 → -127; -0.5 → -63.75 → -64; 0.25 → 31.875 → 32; 1 → 127.5 → 128 → clamped 127.
        Assert.Equal(new sbyte[] { -127, -64, 0, 32, 127 }, stored.Data);
        Assert.Equal(new[] { 1f / 127.5f }, stored.Scales);
        Assert.Equal(new long[] { 0 }, stored.ZeroPoints);
        Assert.Null(stored.Axis);
    }

    [Fact]
    public void More_than_8_bits_or_unsigned_grids_are_rejected()
    {
        using var w = ones(3);
        var e = Assert.Throws<ArgumentException>(() => Int8Storage.Quantize(w, new QuantParams(9)));
        Assert.Contains("Int8 storage needs a signed grid of at most 8 bits", e.Message);
        Assert.Throws<ArgumentException>(() => Int8Storage.Quantize(w, new QuantParams(8, signed: false)));
    }
}
