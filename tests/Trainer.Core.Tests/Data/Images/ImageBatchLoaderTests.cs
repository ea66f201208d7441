using Trainer.Abstractions;
using Trainer.Core.Data;
using Trainer.Core.Data.Images;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Data.Images;

/// <summary>Image batches: normalised per channel, augmented with draws fixed by the seed and the epoch alone.</summary>
public sealed class ImageBatchLoaderTests : IDisposable
{
    private readonly InMemoryImages _images;

    public ImageBatchLoaderTests()
    {
        using var generator = new TorchSharp.torch.Generator(3);
        _images = new InMemoryImages(randint(0, 256, [20, 3, 8, 8], generator: generator).to(ScalarType.Byte), arange(20L));
    }

    public void Dispose() => _images.Dispose();

    private static List<float[]> Epoch(IBatchLoader loader, int epoch)
    {
        var batches = new List<float[]>();
        foreach (var batch in loader.GetBatches(epoch))
        {
            using var scope = NewDisposeScope();
            batches.Add(batch.Inputs.data<float>().ToArray());
        }
        return batches;
    }

    [Fact]
    public void Without_augmentation_a_batch_is_the_pixels_normalised_per_channel()
    {
        var normalization = new PixelNormalization([0.5f, 0.25f, 0f], [0.5f, 0.25f, 2f]);
        using var loader = new ImageBatchLoader(_images.PixelLoader(8, shuffle: false, 0, 1), normalization);
        using var scope = NewDisposeScope();

        var first = loader.GetBatches(0).First();
        var pixels = _images.Pixels.narrow(0, 0, 8).to(ScalarType.Float32).div(255);
        var expected = stack([(pixels[.., 0] - 0.5f) / 0.5f, (pixels[.., 1] - 0.25f) / 0.25f, pixels[.., 2] / 2f], 1);
        Assert.True(first.Inputs.allclose(expected, rtol: 0, atol: 1e-6));
        Assert.Equal([0L, 1, 2, 3, 4, 5, 6, 7], first.Targets.data<long>().ToArray());
        Assert.Equal(3, loader.BatchCount);
    }

    [Fact]
    public void An_epochs_augmented_batches_are_the_same_whatever_was_read_before_and_differ_between_epochs_and_seeds()
    {
        var normalization = _images.MeasureNormalization();
        IBatchLoader Loader(long seed) => new ImageBatchLoader(_images.PixelLoader(8, shuffle: true, seed, 1), normalization, ImageAugmentation.CifarRecipe, seed);

        var fresh = Epoch(Loader(1), 1);
        var resumed = Loader(1);
        Epoch(resumed, 0);
        Epoch(resumed, 2);
        Assert.Equal(fresh, Epoch(resumed, 1));
        Assert.NotEqual(fresh, Epoch(resumed, 0));
        Assert.NotEqual(fresh, Epoch(Loader(2), 1));
    }

    [Fact]
    public void Measured_normalisation_is_the_population_mean_and_deviation_of_each_channel()
    {
        var normalization = _images.MeasureNormalization();
        using var scope = NewDisposeScope();
        var unit = _images.Pixels.to(ScalarType.Float64).div(255);
        for (var c = 0; c < 3; c++)
        {
            Assert.Equal(unit[.., c].mean().item<double>(), normalization.Mean[c], 5);
            Assert.Equal(unit[.., c].std(unbiased: false).item<double>(), normalization.Std[c], 5);
        }
        using var constant = zeros([2, 1, 4, 4], ScalarType.Byte);
        var e = Assert.Throws<ArgumentException>(() => PixelNormalization.Measure(constant));
        Assert.Contains("Channel 0 of the training images is constant", e.Message);
        Assert.Contains("Task:Settings:mean", e.Message);
    }
}
