namespace Trainer.Core.Training;

/// <summary>What a finished run reports.</summary>
/// <param name="EpochsCompleted">Epochs completed, resumed ones included.</param>
/// <param name="GlobalStep">Optimizer steps taken.</param>
/// <param name="StopReason">Why the loop stopped.</param>
/// <param name="Metrics">Latest value of every metric, "test/..." ones included.</param>
/// <param name="BestMetric">Best value of the monitored metric, if it was ever logged.</param>
public sealed record TrainResult(
    int EpochsCompleted,
    long GlobalStep,
    string StopReason,
    IReadOnlyDictionary<string, double> Metrics,
    double? BestMetric);
