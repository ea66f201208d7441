using Trainer.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Data.Images;

/// <summary>
/// A split held in memory as decoded uint8 pixels <c>[N, C, H, W]</c> and int64 labels <c>[N]</c>: a quarter of the float
/// size; batches are cut by <see cref="TensorBatchLoader"/> without per-sample work. Owns both tensors.
/// </summary>
public sealed class InMemoryImages : IImageSource
{
    /// <summary>Takes ownership of <paramref name="pixels"/> and <paramref name="labels"/> (kept out of any dispose scope).</summary>
    public InMemoryImages(Tensor pixels, Tensor labels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        ArgumentNullException.ThrowIfNull(labels);
        if (pixels.dtype != ScalarType.Byte || pixels.dim() != 4)
            throw new ArgumentException($"Expected uint8 pixels [N, C, H, W]; got {pixels.dtype} [{string.Join(", ", pixels.shape)}].", nameof(pixels));
        if (labels.dim() != 1 || labels.shape[0] != pixels.shape[0])
            throw new ArgumentException($"Expected {pixels.shape[0]} labels; got shape [{string.Join(", ", labels.shape)}].", nameof(labels));
        Pixels = pixels.DetachFromDisposeScope();
        Labels = labels.DetachFromDisposeScope();
    }

    /// <summary>uint8 pixels <c>[N, C, H, W]</c>.</summary>
    public Tensor Pixels { get; }

    /// <summary>int64 class indices <c>[N]</c>.</summary>
    public Tensor Labels { get; }

    /// <inheritdoc />
    public long Count => Pixels.shape[0];

    /// <inheritdoc />
    public long[] ImageShape => Pixels.shape[1..];

    /// <inheritdoc />
    public IBatchLoader PixelLoader(int batchSize, bool shuffle, long seed, double subsetRatio) =>
        new TensorBatchLoader(Pixels, Labels, batchSize, shuffle, seed, subsetRatio: subsetRatio);

    /// <inheritdoc />
    public PixelNormalization MeasureNormalization() => PixelNormalization.Measure(Pixels);

    /// <summary>Frees both tensors.</summary>
    public void Dispose()
    {
        Pixels.Dispose();
        Labels.Dispose();
    }
}
