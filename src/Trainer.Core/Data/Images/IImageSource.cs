using Trainer.Abstractions;

namespace Trainer.Core.Data.Images;

/// <summary>
/// One split of an image classification data set: its images as uint8 <c>[C, H, W]</c> with int64 class labels, served
/// in batches of uint8 pixels <c>[B, C, H, W]</c> (an <see cref="ImageBatchLoader"/> turns them into network inputs).
/// </summary>
public interface IImageSource : IDisposable
{
    /// <summary>Number of images.</summary>
    long Count { get; }

    /// <summary>Shape of one image, <c>[C, H, W]</c>.</summary>
    long[] ImageShape { get; }

    /// <summary>Batches of uint8 pixels and labels; shuffled batches follow <see cref="TensorBatchLoader"/>'s order for the seed.</summary>
    IBatchLoader PixelLoader(int batchSize, bool shuffle, long seed, double subsetRatio);

    /// <summary>Per-channel mean and deviation of the split's pixels.</summary>
    PixelNormalization MeasureNormalization();
}
