namespace Trainer.Abstractions;

/// <summary>What one training step produced, read out of its tensors.</summary>
/// <param name="BatchIndex">Zero-based index of the batch within its epoch.</param>
/// <param name="BatchSize">Samples in the batch.</param>
/// <param name="Losses">Every loss the hook returned, "total_loss" included.</param>
public sealed record BatchOutcome(int BatchIndex, int BatchSize, IReadOnlyDictionary<string, double> Losses);
