using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// Exponential moving average of batch min/max (PyTorch's MovingAverageMinMaxObserver): the first batch sets the range,
/// then min ← min + c·(batchMin − min) and likewise for max, with c = <see cref="AveragingConstant"/>.
/// </summary>
public sealed class MovingAverageMinMaxObserver : Observer
{
    /// <summary>Creates the observer.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The constant is outside (0, 1].</exception>
    public MovingAverageMinMaxObserver(QuantParams p, double averagingConstant = 0.01) : base(p)
    {
        if (!(averagingConstant > 0 && averagingConstant <= 1))
            throw new ArgumentOutOfRangeException(nameof(averagingConstant), averagingConstant,
                $"The averaging constant must be in (0, 1]; got {averagingConstant}.");
        AveragingConstant = averagingConstant;
    }

    /// <summary>Weight of the newest batch.</summary>
    public double AveragingConstant { get; }

    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) BatchRange(Tensor rows) => (Shape(rows.amin(1)), Shape(rows.amax(1)));

    /// <inheritdoc/>
    protected override (Tensor Min, Tensor Max) Combine(Tensor min, Tensor max, Tensor batchMin, Tensor batchMax) =>
        (min + AveragingConstant * (batchMin - min), max + AveragingConstant * (batchMax - max));
}
