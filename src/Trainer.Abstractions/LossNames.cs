namespace Trainer.Abstractions;

/// <summary>Well-known keys of the loss dictionaries the trainer hooks return.</summary>
public static class LossNames
{
    /// <summary>The loss backward runs on. Every loss dictionary must hold it.</summary>
    public const string Total = "total_loss";
}
