namespace Trainer.Core.Checkpoints;

/// <summary>A checkpoint that cannot be used: missing, corrupt, or made for another network.</summary>
public sealed class CheckpointException(string message) : Exception(message);
