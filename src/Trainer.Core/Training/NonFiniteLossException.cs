namespace Trainer.Core.Training;

/// <summary>The total loss became NaN or infinite; training stops and the last good checkpoint stays.</summary>
public sealed class NonFiniteLossException(int epoch, int batchIndex, long globalStep, double value, string? lastCheckpoint)
    : Exception($"The total loss is {value} at epoch {epoch + 1}, batch {batchIndex + 1} (global step {globalStep}); training stopped. " +
                (lastCheckpoint is not null && File.Exists(lastCheckpoint)
                    ? $"The last good checkpoint is '{lastCheckpoint}'. "
                    : "No checkpoint was written yet. ") +
                "Lower Trainer:LearningRate or set Trainer:GradientClipNorm.")
{
    /// <summary>Zero-based epoch of the failing step.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>Global step (1-based) that produced the non-finite loss.</summary>
    public long GlobalStep { get; } = globalStep;
}
