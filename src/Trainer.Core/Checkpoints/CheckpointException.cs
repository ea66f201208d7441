namespace Trainer.Core.Checkpoints;

/// <summary>A checkpoint that cannot be used: missing, corrupt, or made for another network.</summary>
/// <param name="message">What is wrong, naming the file.</param>
/// <param name="doesNotFit">True when the file is intact but was made for another network (shapes, names or dtypes differ).</param>
public sealed class CheckpointException(string message, bool doesNotFit = false) : Exception(message)
{
    /// <summary>True when the file is intact but was made for another network.</summary>
    public bool DoesNotFit { get; } = doesNotFit;
}
