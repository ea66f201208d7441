namespace Trainer.Core.Training;

/// <summary>Whether a larger or a smaller value of a monitored metric is better.</summary>
public enum MetricMode
{
    /// <summary>Smaller is better (losses).</summary>
    Min,
    /// <summary>Larger is better (accuracies).</summary>
    Max,
}

/// <summary>How the fixed loop behaves.</summary>
public sealed record TrainerSettings
{
    /// <summary>Number of epochs to run (at most).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Stop after this many optimizer steps over the whole run, mid-epoch if need be (0 disables the limit).</summary>
    public long MaxSteps { get; init; }

    /// <summary>Stop once the learning rate falls below this (0 disables the rule).</summary>
    public double StopLr { get; init; }

    /// <summary>Clip the global gradient norm to this value (0 disables clipping).</summary>
    public double GradientClipNorm { get; init; }

    /// <summary>
    /// Keep freed native tensor memory in the process for reuse (glibc only; see
    /// <see cref="Runtime.NativeAllocator"/>). Makes steps faster; process-wide, applied when Run starts.
    /// </summary>
    public bool ReuseNativeMemory { get; init; } = true;

    /// <summary>Metric that decides the "best" checkpoint, e.g. "val/accuracy".</summary>
    public string MonitorMetric { get; init; } = "val/total_loss";

    /// <summary>Whether the monitored metric is better when smaller or larger.</summary>
    public MetricMode MonitorMode { get; init; } = MetricMode.Min;
}
