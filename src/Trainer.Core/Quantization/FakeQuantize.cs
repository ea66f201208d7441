using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Quantize→dequantize in float with a straight-through gradient (the semantics of <c>torch.fake_quantize_per_*_affine</c>).</summary>
public static class FakeQuantize
{
    /// <summary>
    /// Forward: q = clamp(round(x * (1/scale)) + zp, qmin, qmax); y = (q - zp) * scale, computed in float32 the way PyTorch's
    /// kernels and <c>quantize_per_tensor</c> do (multiplying by the float reciprocal, rounding half to even).
    /// Backward: PyTorch's STE — the gradient w.r.t. <paramref name="x"/> is 1 where round(x/scale) + zp lies in [qmin, qmax]
    /// and 0 outside; scale and zero point are treated as constants.
    /// </summary>
    /// <param name="x">Float tensor.</param>
    /// <param name="scale">Scalar, or one value per channel when <paramref name="channelAxis"/> is set.</param>
    /// <param name="zeroPoint">Same shape as <paramref name="scale"/> (any numeric dtype).</param>
    /// <param name="qmin">Lowest integer level.</param>
    /// <param name="qmax">Highest integer level.</param>
    /// <param name="channelAxis">Axis of <paramref name="x"/> the per-channel values broadcast along, or null per tensor.</param>
    public static Tensor Apply(Tensor x, Tensor scale, Tensor zeroPoint, int qmin, int qmax, int? channelAxis = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(zeroPoint);
        if (qmin >= qmax) throw new ArgumentException($"qmin must be below qmax; got [{qmin}, {qmax}].", nameof(qmin));
        using var scope = NewDisposeScope();
        var s = scale.detach().to(ScalarType.Float32);
        var zp = zeroPoint.detach().to(ScalarType.Float32);
        if (channelAxis is int axis)
        {
            if (s.numel() != x.shape[axis])
                throw new ArgumentException($"Expected {x.shape[axis]} scales along axis {axis}; got {s.numel()}.", nameof(scale));
            s = Ste.AlongAxis(s, x.dim(), axis);
            zp = Ste.AlongAxis(zp, x.dim(), axis);
        }
        else if (s.numel() != 1)
            throw new ArgumentException($"A per-tensor scale must have one element; got {s.numel()}. Pass channelAxis for per-channel.", nameof(scale));
        var inv = 1.0f / s;
        var unclamped = (x.detach() * inv).round() + zp;
        var q = unclamped.clamp(qmin, qmax);
        var y = (q - zp) * s;
        var inside = unclamped.ge(qmin).logical_and(unclamped.le(qmax)).to(x.dtype);
        return Ste.Pass(y, x, inside).MoveToOuterDisposeScope();
    }

    /// <summary>Applies <paramref name="p"/>'s grid and granularity with the given scale and zero point.</summary>
    public static Tensor Apply(Tensor x, Tensor scale, Tensor zeroPoint, QuantParams p) =>
        Apply(x, scale, zeroPoint, p.QMin, p.QMax, p.Granularity.PerChannel ? p.Granularity.Axis : null);
}
