using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Scale and zero point from an observed range, with the formula of PyTorch's <c>_calculate_qparams</c> (MinMaxObserver).</summary>
public static class QuantRange
{
    /// <summary>PyTorch's observer eps, <c>torch.finfo(torch.float32).eps</c>: the smallest scale it returns.</summary>
    public const float Eps = 1.1920928955078125e-07f;

    /// <summary>
    /// Computes float32 scale and int64 zero point tensors of the shape of <paramref name="min"/>.
    /// The range is first widened to include 0. Symmetric: scale = max(-min, max) / ((qmax - qmin) / 2) and the zero point is 0
    /// on a signed grid and 2^(bits-1) on an unsigned one (128 for quint8, as PyTorch). Affine: scale = (max - min) / (qmax - qmin)
    /// and zero point = clamp(qmin - round(min / scale), qmin, qmax). Both scales are at least <see cref="Eps"/>.
    /// </summary>
    /// <remarks>For qint8 [-128, 127] the symmetric scale is max|x|/127.5 (PyTorch), not /127; use a narrow range for /127.</remarks>
    public static (Tensor Scale, Tensor ZeroPoint) ComputeScaleZeroPoint(Tensor min, Tensor max, QuantParams p)
    {
        ArgumentNullException.ThrowIfNull(min);
        ArgumentNullException.ThrowIfNull(max);
        ArgumentNullException.ThrowIfNull(p);
        using var scope = NewDisposeScope();
        var minNeg = minimum(min.to(ScalarType.Float32), zeros_like(min, ScalarType.Float32));
        var maxPos = maximum(max.to(ScalarType.Float32), zeros_like(max, ScalarType.Float32));
        var eps = tensor(Eps);
        Tensor scale, zeroPoint;
        if (p.Scheme == QuantScheme.Symmetric)
        {
            var amax = maximum(minNeg.neg(), maxPos);
            scale = maximum(amax / ((p.QMax - p.QMin) / 2.0f), eps);
            long zp = p.Signed ? 0 : 1L << (p.Bits - 1);
            zeroPoint = full(minNeg.shape, zp, ScalarType.Int64);
        }
        else
        {
            scale = maximum((maxPos - minNeg) / (float)(p.QMax - p.QMin), eps);
            zeroPoint = (p.QMin - (minNeg / scale).round().to(ScalarType.Int32)).clamp(p.QMin, p.QMax).to(ScalarType.Int64);
        }
        return (scale.MoveToOuterDisposeScope(), zeroPoint.MoveToOuterDisposeScope());
    }

    /// <summary>Convenience overload for scalar ranges.</summary>
    public static (Tensor Scale, Tensor ZeroPoint) ComputeScaleZeroPoint(float min, float max, QuantParams p)
    {
        using var lo = tensor(min);
        using var hi = tensor(max);
        return ComputeScaleZeroPoint(lo, hi, p);
    }
}
