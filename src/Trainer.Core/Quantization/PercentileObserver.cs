using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// Clips outliers: each batch contributes its (100 − p)-th and p-th percentiles (linear interpolation, as <c>torch.quantile</c>),
/// and the tracked range is the running mean of the per-batch percentiles (every batch weighs the same).
/// </summary>
public sealed class PercentileObserver : Observer
{
    /// <summary>Creates the observer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The percentile is outside [50, 100].</exception>
    public PercentileObserver(QuantParams p, double percentile = 99.99) : base(p)
    {
        if (!(percentile >= 50 && percentile <= 100))
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, $"The percentile must be in [50, 100]; got {percentile}.");
        Percentile = percentile;
    }

    /// <summary>Upper percentile; the lower one is 100 minus it.</summary>
    public double Percentile { get; }

    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) BatchRange(Tensor rows)
    {
        var sorted = rows.to(ScalarType.Float64).sort(1).Values;
        return (Shape(At(sorted, 1 - Percentile / 100).to(ScalarType.Float32)), Shape(At(sorted, Percentile / 100).to(ScalarType.Float32)));
    }

    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) Combine(Tensor min, Tensor max, Tensor batchMin, Tensor batchMax)
    {
        var n = Batches; // batches already folded into min/max
        return ((min * n + batchMin) / (n + 1), (max * n + batchMax) / (n + 1));
    }

    /// <summary>Quantile q of each sorted row with linear interpolation between the neighbouring ranks.</summary>
    private static Tensor At(Tensor sorted, double q)
    {
        var n = sorted.shape[1];
        var pos = q * (n - 1);
        var lo = (long)Math.Floor(pos);
        var hi = Math.Min(lo + 1, n - 1);
        var frac = pos - lo;
        var a = sorted.select(1, lo);
        return frac == 0 ? a : a + (sorted.select(1, hi) - a) * frac;
    }
}
