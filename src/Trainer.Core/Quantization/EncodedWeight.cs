using TorchSharp;
using Trainer.Abstractions.Quantization;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// A quantized weight as stored: unsigned codes of <see cref="Bits"/> bits, and per channel (or per tensor) a scale and an
/// offset, so that value = code · scale + offset. Every method fits this form: integer grids (offset = (qmin − zp) · scale),
/// DoReFa (scale 2/(2^k − 1), offset −1), binary weights (scale 2α, offset −α) and LSQ (offset = qmin · step).
/// </summary>
/// <param name="Layer">Path of the layer.</param>
/// <param name="Shape">Weight shape.</param>
/// <param name="Bits">Code width, 1..8.</param>
/// <param name="Codes">One code per element, row-major, unpacked.</param>
/// <param name="Scales">One per channel along axis 0, or one.</param>
/// <param name="Offsets">Matching <see cref="Scales"/>.</param>
public sealed record EncodedWeight(string Layer, long[] Shape, int Bits, byte[] Codes, float[] Scales, float[] Offsets)
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
        if (q.Spec.Method == QuantMethod.Naive)
        {
            var stored = Int8Storage.Quantize(w, q.Params);
            var codes = stored.Data.Select(l => (byte)(l - q.Params.QMin)).ToArray();
            var offsets = stored.Scales.Select((s, i) => (q.Params.QMin - stored.ZeroPoints[i]) * s).ToArray();
            return new EncodedWeight(layer.Path, shape, q.Params.Bits, codes, stored.Scales, offsets);
        }
        Tensor scale, offset;
        int bits = q.Params.Bits;
        switch (q.Spec.Method)
        {
            case QuantMethod.DoReFa:
                double n = (1L << bits) - 1;
                scale = tensor((float)(2 / n));
                offset = tensor(-1f);
                break;
            case QuantMethod.Binary:
                var alpha = Binarize.ChannelScale(w, 0).reshape(-1);
                (scale, offset, bits) = (alpha * 2, alpha.neg(), 1);
                break;
            case QuantMethod.Lsq:
                scale = q.Step!.detach().reshape(1).clone();
                offset = scale * q.Params.QMin;
                break;
            default:
                throw new ArgumentException($"layer '{layer.Path}' weight method {q.Spec.Method} cannot be exported", nameof(layer));
        }
        var simulated = layer.EffectiveWeight();
        var s = Broadcast(scale.reshape(-1), shape);
        var o = Broadcast(offset.reshape(-1), shape);
        var code = ((simulated - o) / s).round().clamp(0, (1 << bits) - 1).to(ScalarType.Byte).contiguous();
        return new EncodedWeight(layer.Path, shape, bits, code.data<byte>().ToArray(),
            scale.reshape(-1).to(ScalarType.Float32).data<float>().ToArray(), offset.reshape(-1).to(ScalarType.Float32).data<float>().ToArray());
    }

    /// <summary>The float32 weight code · scale + offset.</summary>
    public Tensor Decode()
    {
        using var scope = NewDisposeScope();
        var codes = tensor(Codes, Shape).to(ScalarType.Float32);
        var value = codes * Broadcast(tensor(Scales), Shape) + Broadcast(tensor(Offsets), Shape);
        return value.MoveToOuterDisposeScope();
    }

    /// <summary>The codes packed <see cref="Bits"/> bits each, least significant bits first.</summary>
    public byte[] Pack() => PackedCodes.Pack(Codes, Bits);

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
