using Trainer.Abstractions;
using Trainer.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Examples.DenoisingTask;

/// <summary>
/// Batches of (noisy image, clean image) over Fashion-MNIST's uint8 images: the clean image is normalised as the
/// classification task normalises it, and the input adds Gaussian noise of standard deviation <c>noiseStd</c> (in
/// normalised units). Each sample's noise is drawn once, from a seeded generator, and stored beside its image
/// (<see cref="DrawNoise"/>), so a sample gets the same noise in every epoch, in every order and in every run: training
/// resumes exactly and a score is the same each time it is taken.
/// </summary>
/// <remarks>Order, shuffling and subsets are <see cref="TensorBatchLoader"/>'s, over the images and their noise together,
/// so the batches follow the seeds as the built-in task's do. The batch tensors belong to the caller's dispose scope.</remarks>
internal sealed class NoisyImageLoader : IBatchLoader, IDisposable
{
    /// <summary>Steps of a standard normal value per noise code: codes are int8 multiples of 1/32.</summary>
    private const float CodesPerStd = 32;

    private readonly TensorBatchLoader _pairs;
    private readonly float _noiseStd;

    /// <summary>Creates the loader; it owns neither tensor.</summary>
    /// <param name="images">uint8 images <c>[N,1,28,28]</c>, outside any dispose scope for the loader's lifetime.</param>
    /// <param name="noise">The images' noise codes from <see cref="DrawNoise"/>, same shape and lifetime.</param>
    /// <param name="batchSize">Samples per batch.</param>
    /// <param name="shuffle">A new order each epoch (from <paramref name="seed"/>), or the file order.</param>
    /// <param name="seed">Seed of the order and of the subset.</param>
    /// <param name="subsetRatio">Fraction of the samples kept, in (0, 1].</param>
    /// <param name="noiseStd">Standard deviation of the noise, &gt; 0.</param>
    public NoisyImageLoader(Tensor images, Tensor noise, int batchSize, bool shuffle, long seed, double subsetRatio, double noiseStd)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(noiseStd);
        _pairs = new TensorBatchLoader(images, noise, batchSize, shuffle, seed, subsetRatio: subsetRatio, inputTransform: FashionMnist.Normalize);
        _noiseStd = (float)noiseStd;
    }

    /// <inheritdoc />
    public long SampleCount => _pairs.SampleCount;

    /// <inheritdoc />
    public int BatchCount => _pairs.BatchCount;

    /// <inheritdoc />
    public IEnumerable<Batch> GetBatches(int epoch)
    {
        foreach (var batch in _pairs.GetBatches(epoch))
        {
            // In: the clean images and their noise codes. Out: the noisy images, with the clean ones as targets.
            var clean = batch.Inputs;
            var noisy = batch.Targets.to(ScalarType.Float32).mul_(_noiseStd / CodesPerStd).add_(clean);
            yield return new Batch(noisy, clean);
        }
    }

    /// <summary>
    /// Standard normal noise for <paramref name="count"/> images of <paramref name="sample"/>'s shape, from a generator
    /// seeded with <paramref name="seed"/>, stored as int8 codes of 1/32 of a standard deviation (clipped at ±127/32,
    /// about ±4σ): one byte per pixel, like the images. The result belongs to no dispose scope; its owner disposes it.
    /// </summary>
    public static Tensor DrawNoise(long count, long[] sample, long seed)
    {
        using var generator = new Generator((ulong)seed);
        var codes = empty([count, .. sample], ScalarType.Int8).DetachFromDisposeScope();
        const long chunk = 4096;   // samples drawn at a time: the float32 draw stays small
        for (long start = 0; start < count; start += chunk)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(chunk, count - start);
            var z = randn([length, .. sample], generator: generator);
            codes.narrow(0, start, length).copy_(z.mul_(CodesPerStd).round_().clamp_(-127, 127).to(ScalarType.Int8));
        }
        return codes;
    }

    /// <summary>Frees the order's generator and subset; the images and the noise are left alone.</summary>
    public void Dispose() => _pairs.Dispose();
}
