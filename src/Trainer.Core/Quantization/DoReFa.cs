using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>DoReFa-Net k-bit quantizers (Zhou et al. 2016), as NNI v2.10's DoReFaQuantizer for weights.</summary>
/// <remarks>
/// The straight-through estimator covers only the rounding; gradients flow through tanh, the max normalisation and the clamp
/// (the paper's estimator). NNI instead passes the whole weight quantizer's gradient through unchanged.
/// </remarks>
public static class DoReFa
{
    /// <summary>quantize_k(v) = round(v·(2^k − 1)) / (2^k − 1) with an identity gradient, for v in [0, 1].</summary>
    public static Tensor QuantizeUnit(Tensor v, int bits)
    {
        Validate(bits);
        using var scope = NewDisposeScope();
        double n = (1L << bits) - 1;
        return (Ste.Round(v * n) / n).MoveToOuterDisposeScope();
    }

    /// <summary>w' = tanh(w) / (2·max|tanh(w)|) + 0.5, then 2·quantize_k(w') − 1: values in {-1, …, 1}, 2^k levels.</summary>
    public static Tensor QuantizeWeights(Tensor w, int bits)
    {
        ArgumentNullException.ThrowIfNull(w);
        Validate(bits);
        using var scope = NewDisposeScope();
        var t = w.tanh();
        var unit = t / (2 * t.abs().max()) + 0.5;
        return (2 * QuantizeUnit(unit, bits) - 1).MoveToOuterDisposeScope();
    }

    /// <summary>quantize_k(clamp(x, 0, 1)); the gradient is zero where x is outside [0, 1].</summary>
    public static Tensor QuantizeActivations(Tensor x, int bits)
    {
        ArgumentNullException.ThrowIfNull(x);
        Validate(bits);
        using var c = x.clamp(0, 1);
        return QuantizeUnit(c, bits);
    }

    private static void Validate(int bits)
    {
        if (bits < QuantParams.MinBits || bits > QuantParams.MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), bits,
                $"Quantization bits must be between {QuantParams.MinBits} and {QuantParams.MaxBits}; got {bits}.");
    }
}
