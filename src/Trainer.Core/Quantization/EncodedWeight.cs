using TorchSharp;
using Trainer.Abstractions.Quantization;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// A quantized weight as stored: unsigned codes of <see cref="Bits"/> bits and, per channel (or per tensor), a scale and a
/// zero, with value = (code − zero) · scale; DoReFa weights (<see cref="DoReFaLevels"/>) decode as 2·(code / (2^k − 1)) − 1.
/// Each form repeats the float operations of the method's forward, so a decoded weight equals the simulated one bit for bit
/// (a last-bit difference could flip the rounding of an activation further on). Integer grids: zero = zp − qmin;
/// binary weights: zero 0.5, scale 2α; LSQ: zero −qmin and the step as the forward scales it.
/// </summary>
/// <param name="Layer">Path of the layer.</param>
/// <param name="Shape">Weight shape.</param>
/// <param name="Bits">Code width, 1..8.</param>
/// <param name="Codes">One code per element, row-major, unpacked.</param>
/// <param name="Scales">One per channel along axis 0, or one.</param>
/// <param name="Zeros">Matching <see cref="Scales"/>.</param>
/// <param name="DoReFaLevels">True for DoReFa's decoding.</param>
public sealed record EncodedWeight(string Layer, long[] Shape, int Bits, byte[] Codes, float[] Scales, float[] Zeros, bool DoReFaLevels = false)
{
    /// <summary>Encodes the weight of <paramref name="layer"/> exactly as its quantizer simulates it.</summary>
    /// <exception cref="ArgumentException">The weight is float or wider than 8 bits.</exception>
    public static EncodedWeight Encode(QuantizedLayer layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        var q = layer.WeightQuantizer
            ?? throw new ArgumentException($"layer '{layer.Path}' keeps a float weight; there is nothing to encode", nameof(layer));
        if (q.Params.Bits > 8)
            throw new ArgumentException($"layer '{layer.Path}' weight has {q.Params.Bits} bits; the export stores at most 8", nameof(layer));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var w = layer.Weight.detach();
        var shape = w.shape;
        int bits = q.Params.Bits;
        switch (q.Spec.Method)
        {
            case QuantMethod.Naive:
                // The int8 path: TorchSharp's quantize_per_tensor/per_channel levels with the min/max observer's parameters.
                var stored = Int8Storage.Quantize(w, q.Params);
                return new EncodedWeight(layer.Path, shape, bits, stored.Data.Select(l => (byte)(l - q.Params.QMin)).ToArray(),
                    stored.Scales, stored.ZeroPoints.Select(zp => (float)(zp - q.Params.QMin)).ToArray());
            case QuantMethod.DoReFa:
                double n = (1L << bits) - 1;
                var unit = (layer.EffectiveWeight() + 1) / 2;
                return new EncodedWeight(layer.Path, shape, bits, Bytes((unit * n).round()), [1f], [0f], DoReFaLevels: true);
            case QuantMethod.Binary:
                var alpha = Binarize.ChannelScale(w, 0).reshape(-1);
                return new EncodedWeight(layer.Path, shape, 1, Bytes(w.ge(0)), Floats(alpha * 2), Enumerable.Repeat(0.5f, (int)alpha.numel()).ToArray());
            case QuantMethod.Lsq:
                var step = Ste.GradScale(q.Step!.detach(), LsqQuantizer.GradScaleFactor(w.numel(), q.Params.QMax));
                var levels = (layer.EffectiveWeight() / step).round() - q.Params.QMin;
                return new EncodedWeight(layer.Path, shape, bits, Bytes(levels), Floats(step.reshape(1)), [(float)-q.Params.QMin]);
            default:
                throw new ArgumentException($"layer '{layer.Path}' weight method {q.Spec.Method} cannot be exported", nameof(layer));
        }
    }

    /// <summary>The float32 weight the codes stand for.</summary>
    public Tensor Decode()
    {
        using var scope = NewDisposeScope();
        var codes = tensor(Codes, Shape).to(ScalarType.Float32);
        if (DoReFaLevels)
        {
            double n = (1L << Bits) - 1;
            return (2 * DoReFa.QuantizeUnit(codes / n, Bits) - 1).MoveToOuterDisposeScope();
        }
        var value = (codes - Broadcast(tensor(Zeros), Shape)) * Broadcast(tensor(Scales), Shape);
        return value.MoveToOuterDisposeScope();
    }

    /// <summary>The codes packed <see cref="Bits"/> bits each, least significant bits first.</summary>
    public byte[] Pack() => PackedCodes.Pack(Codes, Bits);

    private static byte[] Bytes(Tensor t) => t.to(ScalarType.Byte).contiguous().data<byte>().ToArray();

    private static float[] Floats(Tensor t) => t.to(ScalarType.Float32).contiguous().data<float>().ToArray();

    private static Tensor Broadcast(Tensor perChannel, long[] shape) =>
        perChannel.numel() == 1 ? perChannel.reshape(Array.Empty<long>()) : Ste.AlongAxis(perChannel, shape.Length, 0);
}

/// <summary>Packs k-bit codes (k in 1..8) densely into bytes, least significant bits first.</summary>
public static class PackedCodes
{
    /// <summary>Bytes needed for <paramref name="count"/> codes of <paramref name="bits"/> bits.</summary>
    public static long ByteCount(long count, int bits) => (count * bits + 7) / 8;

    /// <summary>Packs <paramref name="codes"/>; each must fit in <paramref name="bits"/> bits.</summary>
    public static byte[] Pack(byte[] codes, int bits)
    {
        CheckBits(bits);
        if (bits == 8) return (byte[])codes.Clone();
        var packed = new byte[ByteCount(codes.Length, bits)];
        long bit = 0;
        foreach (var code in codes)
        {
            if (code >> bits != 0) throw new ArgumentException($"code {code} does not fit in {bits} bits", nameof(codes));
            for (int b = 0; b < bits; b++, bit++)
                if ((code >> b & 1) != 0) packed[bit >> 3] |= (byte)(1 << (int)(bit & 7));
        }
        return packed;
    }

    /// <summary>Unpacks <paramref name="count"/> codes of <paramref name="bits"/> bits.</summary>
    public static byte[] Unpack(byte[] packed, int bits, long count)
    {
        CheckBits(bits);
        if (packed.Length != ByteCount(count, bits))
            throw new ArgumentException($"expected {ByteCount(count, bits)} bytes for {count} codes of {bits} bits; got {packed.Length}", nameof(packed));
        if (bits == 8) return (byte[])packed.Clone();
        var codes = new byte[count];
        long bit = 0;
        for (long i = 0; i < count; i++)
            for (int b = 0; b < bits; b++, bit++)
                if ((packed[bit >> 3] >> (int)(bit & 7) & 1) != 0) codes[i] |= (byte)(1 << b);
        return codes;
    }

    private static void CheckBits(int bits)
    {
        if (bits < 1 || bits > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, $"codes are 1 to 8 bits wide; got {bits}");
    }
}
