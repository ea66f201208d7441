using Trainer.Abstractions;

namespace Trainer.Core.Data;

/// <summary>The first <see cref="SampleCount"/> samples of another loader's epoch 0, in its batches (the last one cut).
/// Disposes the loader it wraps when that loader is disposable.</summary>
public sealed class FirstSamplesLoader : IBatchLoader, IDisposable
{
    private readonly IBatchLoader _inner;
    private readonly int _batchSize;

    /// <summary>Wraps <paramref name="inner"/>, keeping at most <paramref name="samples"/> samples.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="samples"/> below 1.</exception>
    public FirstSamplesLoader(IBatchLoader inner, long samples)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThan(samples, 1);
        _inner = inner;
        SampleCount = Math.Min(samples, inner.SampleCount);
        _batchSize = inner.BatchCount == 0 ? 1 : (int)Math.Ceiling((double)inner.SampleCount / inner.BatchCount);
    }

    /// <inheritdoc />
    public long SampleCount { get; }

    /// <inheritdoc />
    public int BatchCount => (int)Math.Ceiling((double)SampleCount / _batchSize);

    /// <summary>The same batches for every epoch: a fixed subset.</summary>
    public IEnumerable<Batch> GetBatches(int epoch)
    {
        long left = SampleCount;
        foreach (var batch in _inner.GetBatches(0))
        {
            if (left <= 0) yield break;
            if (batch.Size <= left) yield return batch;
            else yield return new Batch(batch.Inputs.narrow(0, 0, left), batch.Targets.narrow(0, 0, left));
            left -= batch.Size;
        }
    }

    /// <inheritdoc />
    public void Dispose() => (_inner as IDisposable)?.Dispose();
}
