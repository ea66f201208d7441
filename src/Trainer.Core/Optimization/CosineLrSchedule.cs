using TorchSharp;

namespace Trainer.Core.Optimization;

/// <summary>Cosine annealing from the base rate to <c>minLr</c> over <c>periodEpochs</c> (PyTorch's CosineAnnealingLR, closed form).</summary>
public sealed class CosineLrSchedule : LrScheduleBase
{
    private readonly int _period;
    private readonly double _minLr;

    /// <summary>Creates the schedule.</summary>
    public CosineLrSchedule(torch.optim.Optimizer optimizer, int periodEpochs, double minLr) : base(optimizer)
    {
        if (periodEpochs <= 0) throw new ArgumentOutOfRangeException(nameof(periodEpochs), "period must be positive");
        _period = periodEpochs;
        _minLr = minLr;
    }

    /// <inheritdoc />
    public override void Step(int epoch, double? validationLoss)
    {
        var t = Math.Min(epoch + 1, _period);
        SetRates((_, baseRate) => _minLr + (baseRate - _minLr) * (1 + Math.Cos(Math.PI * t / _period)) / 2);
    }
}
