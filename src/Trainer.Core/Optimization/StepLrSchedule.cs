using TorchSharp;

namespace Trainer.Core.Optimization;

/// <summary>Multiplies the rate by <c>gamma</c> every <c>stepSize</c> epochs (PyTorch's StepLR).</summary>
public sealed class StepLrSchedule : LrScheduleBase
{
    private readonly int _stepSize;
    private readonly double _gamma;

    /// <summary>Creates the schedule.</summary>
    public StepLrSchedule(torch.optim.Optimizer optimizer, int stepSize, double gamma) : base(optimizer)
    {
        if (stepSize <= 0) throw new ArgumentOutOfRangeException(nameof(stepSize), "step size must be positive");
        _stepSize = stepSize;
        _gamma = gamma;
    }

    /// <inheritdoc />
    public override void Step(int epoch, double? validationLoss) =>
        SetRates((_, baseRate) => baseRate * Math.Pow(_gamma, (epoch + 1) / _stepSize));
}
