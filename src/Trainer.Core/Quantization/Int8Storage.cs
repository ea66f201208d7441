using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Integer weights with their quantization parameters, ready to store.</summary>
/// <param name="Data">Integer levels (the <c>int_repr</c>), row-major in <paramref name="Shape"/>.</param>
/// <param name="Shape">Shape of the original tensor.</param>
/// <param name="Scales">One scale, or one per channel along <paramref name="Axis"/>.</param>
/// <param name="ZeroPoints">Zero points matching <paramref name="Scales"/>.</param>
/// <param name="Axis">Channel axis, or null per tensor.</param>
/// <param name="Bits">Bit width; levels lie in [-2^(bits-1), 2^(bits-1)-1].</param>
public sealed record QuantizedWeights(sbyte[] Data, long[] Shape, float[] Scales, long[] ZeroPoints, int? Axis, int Bits);

/// <summary>Real int8 storage through TorchSharp's <c>quantize_per_tensor</c>/<c>quantize_per_channel</c> (QInt8).</summary>
/// <remarks>No arithmetic is ever done on quantized tensors (it fails or aborts the process); only <c>int_repr</c> is read.</remarks>
public static class Int8Storage
{
    /// <summary>Quantizes <paramref name="w"/> with min/max scale and zero point for <paramref name="p"/>.</summary>
    /// <exception cref="ArgumentException">More than 8 bits or an unsigned grid (QInt8 cannot hold it).</exception>
    public static QuantizedWeights Quantize(Tensor w, QuantParams p)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(p);
        if (p.Bits > 8 || !p.Signed)
            throw new ArgumentException($"Int8 storage needs a signed grid of at most 8 bits; got {p}.", nameof(p));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var observer = new MinMaxObserver(p);
        var x = w.detach().to(ScalarType.Float32).contiguous();
        observer.Observe(x);
        var (scale, zp) = observer.Params();
        Tensor q;
        int? axis = p.Granularity.PerChannel ? p.Granularity.Axis : null;
        if (axis is int a)
            q = quantize_per_channel(x, scale.to(ScalarType.Float64), zp.to(ScalarType.Int64), a, ScalarType.QInt8);
        else
            q = quantize_per_tensor(x, scale.item<float>(), zp.item<long>(), ScalarType.QInt8);
        var levels = q.int_repr().clamp(p.QMin, p.QMax).contiguous();
        return new QuantizedWeights(levels.data<sbyte>().ToArray(), x.shape, scale.reshape(-1).data<float>().ToArray(),
            zp.reshape(-1).data<long>().ToArray(), axis, p.Bits);
    }

    /// <summary>Float32 tensor (level − zero point) · scale, computed in float from the stored integers.</summary>
    public static Tensor Dequantize(QuantizedWeights q)
    {
        ArgumentNullException.ThrowIfNull(q);
        using var scope = NewDisposeScope();
        var levels = tensor(q.Data, q.Shape).to(ScalarType.Float32);
        var scale = tensor(q.Scales);
        var zp = tensor(q.ZeroPoints).to(ScalarType.Float32);
        if (q.Axis is int a)
        {
            scale = Ste.AlongAxis(scale, levels.dim(), a);
            zp = Ste.AlongAxis(zp, levels.dim(), a);
        }
        else
        {
            scale = scale.reshape(Array.Empty<long>());
            zp = zp.reshape(Array.Empty<long>());
        }
        return ((levels - zp) * scale).MoveToOuterDisposeScope();
    }
}
