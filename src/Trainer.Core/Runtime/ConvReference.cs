using static TorchSharp.torch;

namespace Trainer.Core.Runtime;

/// <summary>
/// Whether a float32 convolution result is right, judged against the same convolution in float64 (libtorch's own
/// double kernels, never oneDNN's float32 ones). The criterion is the rounding bound of a float32 dot product: any
/// summation order of K products gives |ŷ − y| ≤ γ_K·Σ|wᵢxᵢ| elementwise, γ_K = Ku/(1 − Ku), u = 2⁻²⁴ (Higham, Accuracy
/// and Stability of Numerical Algorithms, 3.1). Σ|wᵢxᵢ| is the same convolution of |x| and |W| (plus |b|). The bound
/// holds for every CPU, thread count and blocking, so a result beyond twice it (the second γ covers the bias addition and
/// the float64 reference's own rounding) is a wrong result, not a different rounding.
/// </summary>
public static class ConvReference
{
    private static readonly double Unit = Math.Pow(2, -24);

    /// <summary>γ_K for float32.</summary>
    public static double Gamma(long k) => k * Unit / (1 - k * Unit);

    /// <summary>
    /// The largest |<paramref name="result"/> − exact| and that difference over 2γ_K·(|W|·|x| + |b|) (above 1: wrong).
    /// </summary>
    /// <param name="conv">The convolution's geometry applied to (input, weight, bias); called in float64.</param>
    /// <param name="x">The float32 input.</param>
    /// <param name="weight">The float32 weight.</param>
    /// <param name="bias">The bias, or null.</param>
    /// <param name="result">The float32 result under test.</param>
    public static (double MaxAbsDifference, double Excess) Check(Func<Tensor, Tensor, Tensor?, Tensor> conv, Tensor x, Tensor weight,
        Tensor? bias, Tensor result)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var exact = conv(x.to(float64), weight.to(float64), bias?.to(float64));
        var magnitude = conv(x.abs().to(float64), weight.abs().to(float64), bias?.abs().to(float64));
        long k = weight.shape[1] * weight.shape[2] * weight.shape[3] + 1;
        return Excess(result, exact, magnitude, k);
    }

    /// <summary>The largest |<paramref name="result"/> − <paramref name="exact"/>| and its largest ratio to
    /// 2γ_K·<paramref name="magnitude"/>.</summary>
    public static (double MaxAbsDifference, double Excess) Excess(Tensor result, Tensor exact, Tensor magnitude, long k)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var diff = (result.to(float64) - exact).abs();
        // NaN is a wrong result: it must not vanish in max().
        if (diff.isnan().any().item<bool>()) return (double.NaN, double.PositiveInfinity);
        // The smallest normal double keeps an all-zero bound (a dead input) from dividing by zero.
        // In float64: the floor underflows to 0 in a float32 magnitude, and 0/0 is NaN.
        var bound = magnitude.to(float64).mul(2 * Gamma(k)).clamp_min(2.2250738585072014e-308);
        return (diff.max().item<double>(), (diff / bound).max().item<double>());
    }
}
