using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Data;

/// <summary>
/// Turns another loader's uint8 image batches <c>[B, C, H, W]</c> into training inputs: scaled to [0, 1], augmented (when
/// an augmentation is given) and normalised per channel. The augmentation of epoch <c>e</c> draws from a generator seeded
/// with the loader's seed and <c>e</c> alone, so an epoch's batches are the same whatever was read before (a resumed run
/// sees what an unbroken run saw). Disposes the loader it wraps when that loader is disposable.
/// </summary>
public sealed class ImageBatchLoader : IBatchLoader, IDisposable
{
    private readonly IBatchLoader _pixels;
    private readonly PixelNormalization _normalization;
    private readonly ImageAugmentation _augmentation;
    private readonly long _seed;

    /// <summary>Wraps <paramref name="pixels"/>, a loader of uint8 images and their targets.</summary>
    /// <param name="pixels">uint8 image batches.</param>
    /// <param name="normalization">Per-channel normalisation.</param>
    /// <param name="augmentation">Augmentation of training batches; null or <see cref="ImageAugmentation.None"/> for none.</param>
    /// <param name="seed">Seed of the augmentation's draws.</param>
    public ImageBatchLoader(IBatchLoader pixels, PixelNormalization normalization, ImageAugmentation? augmentation = null, long seed = 0)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(normalization);
        _pixels = pixels;
        _normalization = normalization;
        _augmentation = augmentation ?? ImageAugmentation.None;
        _seed = seed;
    }

    /// <inheritdoc />
    public long SampleCount => _pixels.SampleCount;

    /// <inheritdoc />
    public int BatchCount => _pixels.BatchCount;

    /// <inheritdoc />
    public IEnumerable<Batch> GetBatches(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        return Enumerate(epoch);
    }

    private IEnumerable<Batch> Enumerate(int epoch)
    {
        using var generator = _augmentation.IsNone ? null : new Generator(EpochSeed(_seed, epoch));
        foreach (var batch in _pixels.GetBatches(epoch))
        {
            // The batch's tensors belong to the caller's step scope, as the inner loader's did.
            var unit = batch.Inputs.to(ScalarType.Float32).div_(255f);
            batch.Inputs.Dispose();
            if (generator is not null)
            {
                var augmented = _augmentation.Apply(unit, generator);
                unit.Dispose();
                unit = augmented;
            }
            yield return new Batch(_normalization.ApplyToUnit(unit), batch.Targets);
        }
    }

    /// <summary>The augmentation seed of <paramref name="epoch"/>: distinct per epoch, fixed by the loader's seed.</summary>
    private static ulong EpochSeed(long seed, int epoch) => unchecked((ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);

    /// <inheritdoc />
    public void Dispose() => (_pixels as IDisposable)?.Dispose();
}
