using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Data;

/// <summary>
/// Batches over tensors already in memory (inputs <c>[N, ...]</c>, targets <c>[N]</c>) without any
/// per-sample work: a batch is one <c>index_select</c> of the whole tensors (or one <c>narrow</c>
/// when the order is the natural one).
/// </summary>
/// <remarks>
/// <para>Shuffling reproduces PyTorch exactly: the reference seeds
/// <c>gen = torch.Generator().manual_seed(seed)</c> once and draws
/// <c>perm = torch.randperm(n, generator=gen)</c> at each epoch, so epoch <c>e</c> uses the
/// <c>(e+1)</c>-th permutation drawn from a generator seeded with <c>seed</c>. Batches are
/// <c>perm[i:i+batchSize]</c>. <see cref="GetBatches"/> yields epoch <c>e</c>'s batches whatever was
/// read before, so a resumed run sees the data an unbroken run sees.</para>
/// <para>Batch tensors are created when the enumerator's <c>MoveNext</c> runs, so they belong to the
/// dispose scope open at that moment (the training step's). Without shuffling or subset they are
/// <c>narrow</c> views sharing storage with the source tensors: do not modify them in place.</para>
/// <para>The loader does not own the source tensors and never disposes them; keep them out of any
/// dispose scope for the loader's lifetime. Not thread-safe.</para>
/// </remarks>
public sealed class TensorBatchLoader : IBatchLoader, IDisposable
{
    private readonly Tensor _inputs;
    private readonly Tensor _targets;
    private readonly Tensor? _subset;
    private readonly Func<Tensor, Tensor>? _inputTransform;
    private readonly Generator _generator;
    private readonly ILogger _logger;
    private int _permutationsDrawn;
    private bool _disposed;

    /// <summary>Creates a loader over <paramref name="inputs"/> and <paramref name="targets"/>.</summary>
    /// <param name="inputs">Inputs, first dimension is the sample (e.g. float32 <c>[N,1,28,28]</c>).</param>
    /// <param name="targets">Targets with the same first dimension (e.g. int64 class indices <c>[N]</c>).</param>
    /// <param name="batchSize">Samples per batch; greater than zero.</param>
    /// <param name="shuffle">Draw a new permutation each epoch (PyTorch-compatible); otherwise keep the order.</param>
    /// <param name="seed">Seed of the shuffle generator and of the subset choice.</param>
    /// <param name="dropLast">Drop the last batch when it is smaller than <paramref name="batchSize"/>.</param>
    /// <param name="subsetRatio">
    /// Fraction of samples kept, in (0, 1]. Below 1 the loader keeps the first <c>round(ratio*N)</c>
    /// indices of <c>randperm(N)</c> from a fresh generator seeded with <paramref name="seed"/>
    /// (the same subset every epoch); 1 keeps every sample in order.
    /// </param>
    /// <param name="logger">Optional logger.</param>
    /// <param name="inputTransform">
    /// Applied to each batch's inputs (e.g. <see cref="FashionMnist.Normalize"/> over uint8 pixels), so
    /// the data can stay compact in memory; the result belongs to the step's dispose scope.
    /// </param>
    /// <exception cref="ArgumentException">An argument is out of range or the tensors do not match.</exception>
    public TensorBatchLoader(Tensor inputs, Tensor targets, int batchSize, bool shuffle, long seed = 0,
        bool dropLast = false, double subsetRatio = 1.0, ILogger? logger = null, Func<Tensor, Tensor>? inputTransform = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(targets);
        if (inputs.IsInvalid || targets.IsInvalid)
            throw new ArgumentException("The inputs or targets tensor has already been disposed.");
        if (inputs.dim() < 1 || targets.dim() < 1)
            throw new ArgumentException(
                $"Inputs and targets need a sample dimension; got shapes [{string.Join(",", inputs.shape)}] and [{string.Join(",", targets.shape)}].");
        if (inputs.shape[0] != targets.shape[0])
            throw new ArgumentException(
                $"Inputs and targets must have the same length: inputs have {inputs.shape[0]} samples, targets {targets.shape[0]}.",
                nameof(targets));
        if (inputs.shape[0] == 0)
            throw new ArgumentException("Inputs and targets hold no samples.", nameof(inputs));
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be greater than 0.");
        if (!(subsetRatio > 0 && subsetRatio <= 1))
            throw new ArgumentOutOfRangeException(nameof(subsetRatio), subsetRatio, "Subset ratio must be in (0, 1].");

        _inputs = inputs;
        _inputTransform = inputTransform;
        _targets = targets;
        _logger = logger ?? NullLogger.Instance;
        BatchSize = batchSize;
        Shuffle = shuffle;
        Seed = seed;
        DropLast = dropLast;
        SubsetRatio = subsetRatio;
        TotalSampleCount = inputs.shape[0];

        // Python's round() rounds halves to even, as Math.Round does by default.
        SampleCount = subsetRatio >= 1 ? TotalSampleCount : (long)Math.Round(subsetRatio * TotalSampleCount);
        if (SampleCount == 0)
            throw new ArgumentOutOfRangeException(nameof(subsetRatio), subsetRatio,
                $"Subset ratio {subsetRatio} of {TotalSampleCount} samples keeps no sample.");
        var batches = dropLast ? SampleCount / batchSize : (SampleCount + batchSize - 1) / batchSize;
        if (batches == 0)
            throw new ArgumentException(
                $"With drop-last, batch size {batchSize} larger than the {SampleCount} samples leaves no batch.", nameof(batchSize));
        BatchCount = checked((int)batches);

        if (SampleCount < TotalSampleCount)
        {
            _subset = ChooseSubset(TotalSampleCount, SampleCount, seed);
            if (inputs.device_type != DeviceType.CPU && !shuffle)
                _subset = _subset.to(inputs.device, disposeAfter: true).DetachFromDisposeScope();
        }
        _generator = NewGenerator(seed);
        _logger.LogDebug("Loader over {Samples} of {Total} samples, batch size {BatchSize}, {Batches} batches, shuffle {Shuffle}, seed {Seed}",
            SampleCount, TotalSampleCount, batchSize, BatchCount, shuffle, seed);
    }

    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether each epoch draws a new permutation.</summary>
    public bool Shuffle { get; }

    /// <summary>Seed of the shuffle generator and of the subset choice.</summary>
    public long Seed { get; }

    /// <summary>Whether a last, smaller batch is dropped.</summary>
    public bool DropLast { get; }

    /// <summary>Fraction of the samples kept.</summary>
    public double SubsetRatio { get; }

    /// <summary>Number of samples in the source tensors, before the subset is taken.</summary>
    public long TotalSampleCount { get; }

    /// <inheritdoc/>
    public long SampleCount { get; }

    /// <inheritdoc/>
    public int BatchCount { get; }

    /// <inheritdoc/>
    public IEnumerable<Batch> GetBatches(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Enumerate(epoch);
    }

    private IEnumerable<Batch> Enumerate(int epoch)
    {
        // Runs on the first MoveNext, inside the caller's step scope: the epoch's order must live
        // across batches, so it is detached from that scope and disposed in the finally.
        Tensor? order = null;
        try
        {
            order = Shuffle ? ShuffledOrder(epoch) : null;
            var indexSource = order ?? _subset;
            for (var batch = 0; batch < BatchCount; batch++)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                var start = (long)batch * BatchSize;
                var length = Math.Min(BatchSize, SampleCount - start);
                if (indexSource is null)
                {
                    yield return new Batch(Transform(_inputs.narrow(0, start, length)), _targets.narrow(0, start, length));
                    continue;
                }
                using var indices = indexSource.narrow(0, start, length);
                yield return new Batch(Transform(_inputs.index_select(0, indices)), _targets.index_select(0, indices));
            }
        }
        finally
        {
            order?.Dispose();
        }
    }

    private Tensor Transform(Tensor inputs)
    {
        if (_inputTransform is null) return inputs;
        using (inputs) return _inputTransform(inputs);
    }

    /// <summary>
    /// Sample indices of a shuffled epoch, in batch order, on the inputs' device and detached from
    /// any dispose scope. Draws the <c>(epoch+1)</c>-th permutation of the seeded generator.
    /// </summary>
    private Tensor ShuffledOrder(int epoch)
    {
        if (epoch != _permutationsDrawn)
        {
            _logger.LogDebug("Re-seeding the shuffle generator to reach epoch {Epoch} (it was at epoch {Drawn})",
                epoch, _permutationsDrawn);
            _generator.manual_seed(Seed);
            _permutationsDrawn = 0;
            for (; _permutationsDrawn < epoch; _permutationsDrawn++)
                randperm(SampleCount, generator: _generator).Dispose();
        }

        var order = randperm(SampleCount, generator: _generator);
        _permutationsDrawn++;
        if (_subset is not null)
        {
            using var permutation = order;
            order = _subset.index_select(0, permutation);
        }
        if (order.device_type != _inputs.device_type)
            order = order.to(_inputs.device, disposeAfter: true);
        return order.DetachFromDisposeScope();
    }

    /// <summary>The first <paramref name="count"/> indices of <c>randperm(total)</c> from a fresh generator (CPU, detached).</summary>
    private static Tensor ChooseSubset(long total, long count, long seed)
    {
        using var generator = NewGenerator(seed);
        using var permutation = randperm(total, generator: generator);
        using var head = permutation.narrow(0, 0, count);
        return head.clone().DetachFromDisposeScope();
    }

    private static Generator NewGenerator(long seed)
    {
        var generator = new Generator();
        generator.manual_seed(seed);
        return generator;
    }

    /// <summary>Frees the generator and the subset indices; the source tensors are left alone.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _subset?.Dispose();
        _generator.Dispose();
    }
}
