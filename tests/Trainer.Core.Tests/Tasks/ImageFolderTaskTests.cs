using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data.Images;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Data.Images;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Tasks;

/// <summary>The built-in "image-folder" task: decoded once into memory or streamed (the same batches either way), trained by
/// its own CNN to an accuracy, and its settings checked by name.</summary>
public sealed class ImageFolderTaskTests : IDisposable
{
    private readonly ImageFiles _files = new();
    private readonly string _runs = Path.Combine(Path.GetTempPath(), "trainer-imagefolder-" + Guid.NewGuid().ToString("N"));

    public ImageFolderTaskTests()
    {
        _files.ColourClasses("train", 12);
        _files.ColourClasses("val", 4, offset: 50);
    }

    public void Dispose()
    {
        _files.Dispose();
        if (Directory.Exists(_runs)) Directory.Delete(_runs, recursive: true);
    }

    private ImageFolderTask Configured(params (string Key, string Value)[] settings)
    {
        var task = new ImageFolderTask();
        task.Configure(TaskContext.Empty with { DataPath = _files.Root, Settings = settings.ToDictionary(s => s.Key, s => s.Value) });
        return task;
    }

    private static List<(float[] Inputs, long[] Targets)> Epoch(IBatchLoader loader, int epoch)
    {
        var batches = new List<(float[], long[])>();
        using var enumerator = loader.GetBatches(epoch).GetEnumerator();
        while (true)
        {
            using var scope = NewDisposeScope();
            if (!enumerator.MoveNext()) break;
            batches.Add((enumerator.Current.Inputs.data<float>().ToArray(), enumerator.Current.Targets.data<long>().ToArray()));
        }
        return batches;
    }

    [Fact]
    public void The_catalog_builds_it_and_it_trains_its_own_cnn_to_tell_the_colour_classes_apart()
    {
        using var task = TaskCatalog.Create("image-folder");
        task.Configure(TaskContext.Empty with { DataPath = _files.Root, Settings = new Dictionary<string, string> { ["rotation"] = "10" } });

        Assert.Equal(TaskScore.Accuracy, task.Score);
        Assert.Equal([1, 3, 8, 8], task.ExampleInputShape);
        Assert.Equal(["blue", "green", "red"], ((ImageFolderTask)task).ClassNames);
        Assert.IsType<InMemoryImages>(((ImageFolderTask)task).TrainImages);
        using var model = task.CreateModel()!;
        Assert.Equal((3, 3), (Assert.IsType<ImageCnn>(model).Channels, ((ImageCnn)model).Classes));

        manual_seed(0);
        var result = new TrainerRecipe().Create(task, new TrainingRunSpec(model, task.TrainLoader(12, 0, 1), task.ValidationLoader(12),
            Path.Combine(_runs, "log"), Path.Combine(_runs, "ckpt"), Epochs: 6, LearningRate: 0.05), NullLoggerFactory.Instance).Run();

        Assert.True(result.Metrics["val/accuracy"] >= 0.9, $"val accuracy {result.Metrics["val/accuracy"]}");
        Assert.Equal(result.Metrics["val/accuracy"], task.ScoreOf(model, task.ValidationLoader(5)), 6);
    }

    [Fact]
    public void Streaming_serves_the_same_augmented_batches_as_memory_in_every_epoch()
    {
        (string, string)[] normalisation = [("mean", "0.5"), ("std", "0.25")];
        using var memory = Configured([.. normalisation, ("loading", "memory")]);
        using var streamed = Configured([.. normalisation, ("loading", "stream"), ("prefetch_batches", "2"), ("decode_threads", "2")]);
        Assert.IsType<StreamingImages>(streamed.TrainImages);

        foreach (var epoch in new[] { 1, 0 })
            AssertSame(Epoch(memory.TrainLoader(5, seed: 3, subsetRatio: 0.8), epoch), Epoch(streamed.TrainLoader(5, seed: 3, subsetRatio: 0.8), epoch));
        AssertSame(Epoch(memory.ValidationLoader(7), 0), Epoch(streamed.ValidationLoader(7), 0));
        // A loop that stops early (the first batch only) leaves no decoding behind and the next epoch starts clean.
        using (NewDisposeScope()) Assert.Equal(5, streamed.TrainLoader(5, 3, 1).GetBatches(0).First().Size);
        Assert.Equal(8, Epoch(streamed.TrainLoader(5, seed: 3, subsetRatio: 1), 2).Count);
    }

    [Fact]
    public void Auto_loading_streams_a_set_above_the_memory_limit_and_measures_its_normalisation_on_the_images()
    {
        using var auto = Configured(("memory_limit_mb", "0.005"));
        var streaming = Assert.IsType<StreamingImages>(auto.TrainImages);
        using var memory = Configured();
        Assert.Equal(memory.Normalization.Mean, auto.Normalization.Mean.Select(m => m), new FloatTolerance(1e-5f));
        Assert.Equal(36, streaming.Count);
    }

    [Fact]
    public void A_truncated_image_found_while_streaming_stops_the_epoch_with_an_error_naming_it()
    {
        using var task = Configured(("loading", "stream"), ("mean", "0.5"), ("std", "0.25"));
        var path = _files.PathOf("train/green/003.png");
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => Epoch(task.TrainLoader(6, 0, 1), 0));
        Assert.Contains($"Image '{path}' is truncated", e.Message);
    }

    [Theory]
    [InlineData("image_size", "3", "Task:Settings:image_size = '3' is invalid; accepted: a side from 4 to 8192 pixels")]
    [InlineData("resize", "pad", "Task:Settings:resize = 'pad' is invalid; accepted: one of crop, stretch")]
    [InlineData("channels", "2", "Task:Settings:channels = '2' is invalid; accepted: one of 1, 3, 4")]
    [InlineData("loading", "lazy", "Task:Settings:loading = 'lazy' is invalid")]
    [InlineData("size", "32", "Task:Settings:size is not a setting of the task 'image-folder'; its settings: augment, channels, crop_padding")]
    public void A_bad_setting_is_named(string key, string value, string message)
    {
        var e = Assert.Throws<ArgumentException>(() => Configured((key, value)));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Image_size_and_channels_shape_the_inputs_and_the_model()
    {
        using var task = Configured(("image_size", "12x10"), ("channels", "1"), ("resize", "stretch"), ("width", "8"));
        Assert.Equal([1, 1, 12, 10], task.ExampleInputShape);
        using var model = task.CreateModel();
        using var scope = NewDisposeScope();
        var batch = task.ValidationLoader(4).GetBatches(0).First();
        Assert.Equal([4, 1, 12, 10], batch.Inputs.shape);
        Assert.Equal([4, 3], model.call(batch.Inputs).shape);
    }

    private static void AssertSame(List<(float[] Inputs, long[] Targets)> expected, List<(float[] Inputs, long[] Targets)> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Targets, actual[i].Targets);
            Assert.Equal(expected[i].Inputs, actual[i].Inputs);
        }
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;

        public int GetHashCode(float obj) => 0;
    }
}
