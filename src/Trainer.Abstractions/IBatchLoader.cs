namespace Trainer.Abstractions;

/// <summary>
/// A source of mini-batches. Epoch <c>e</c> always yields the same batches for the same seed,
/// whatever epochs were read before, so a resumed run sees exactly the data an unbroken run sees.
/// </summary>
public interface IBatchLoader
{
    /// <summary>Number of samples one epoch covers.</summary>
    long SampleCount { get; }

    /// <summary>Number of batches one epoch yields.</summary>
    int BatchCount { get; }

    /// <summary>Batches of the zero-based epoch <paramref name="epoch"/>.</summary>
    IEnumerable<Batch> GetBatches(int epoch);
}
