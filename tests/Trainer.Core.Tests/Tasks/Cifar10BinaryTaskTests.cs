using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Data.Images;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Tasks;

/// <summary>The built-in "cifar10-binary" task on small files written in CIFAR-10's binary format.</summary>
public sealed class Cifar10BinaryTaskTests
{
    private static Dictionary<string, string> Settings(params (string Key, string Value)[] pairs) => pairs.ToDictionary(p => p.Key, p => p.Value);

    [Fact]
    public void The_catalog_builds_it_and_it_serves_the_training_and_test_batches_a_model_for_ten_classes_and_accuracy()
    {
        using var files = Cifar10Files.Standard();
        using var task = TaskCatalog.Create("cifar10-binary");
        task.Configure(TaskContext.Empty with { DataPath = files.Directory });

        Assert.Equal(TaskScore.Accuracy, task.Score);
        Assert.Equal([1, 3, 32, 32], task.ExampleInputShape);
        Assert.Equal(10, task.TrainLoader(4, seed: 0, subsetRatio: 1).SampleCount);
        var validation = task.ValidationLoader(2);
        Assert.Equal(5, validation.SampleCount);
        using (NewDisposeScope())
        {
            // Validation is test_batch.bin in file order: labels 0..4.
            Assert.Equal([0L, 1, 2, 3, 4], validation.GetBatches(0).SelectMany(b => b.Targets.data<long>().ToArray()));
            Assert.Equal([2, 3, 32, 32], validation.GetBatches(0).First().Inputs.shape);
        }

        using var model = task.CreateModel()!;
        var cnn = Assert.IsType<ImageCnn>(model);
        Assert.Equal((3, 10), (cnn.Channels, cnn.Classes));
        using (NewDisposeScope())
            Assert.Equal([2, 10], model.call(zeros(2, 3, 32, 32)).shape);
        Assert.Contains(task.ScoreOf(model, validation), new[] { 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 });
        var setup = new TrainerSetup { Network = model, TrainLoader = validation, Optimizer = optim.SGD(model.parameters(), 0.01) };
        Assert.IsType<ClassificationTrainer>(task.CreateTrainer(setup));
    }

    [Fact]
    public void Configured_normalisation_replaces_the_measured_one_and_augment_false_leaves_training_batches_unchanged()
    {
        using var files = Cifar10Files.Standard();
        using var measured = new Cifar10BinaryTask();
        measured.Configure(TaskContext.Empty with { DataPath = files.Directory });
        Assert.NotEqual(0.5f, measured.Normalization.Mean[0]);

        using var task = new Cifar10BinaryTask();
        task.Configure(TaskContext.Empty with
        {
            DataPath = files.Directory,
            Settings = Settings(("mean", "0.5"), ("std", "0.25, 0.5, 1"), ("augment", "false")),
        });
        Assert.Equal([0.5f, 0.5f, 0.5f], task.Normalization.Mean);
        Assert.Equal([0.25f, 0.5f, 1f], task.Normalization.Std);
        Assert.True(task.Augmentation.IsNone);
        using var scope = NewDisposeScope();
        var batch = task.TrainLoader(10, seed: 0, subsetRatio: 1).GetBatches(0).Single();
        // Shuffled but not augmented: the sample with label l is one of the written images, exactly normalised.
        var first = batch.Inputs[0];
        var expected = new float[3];
        for (var c = 0; c < 3; c++) expected[c] = first[c, 0, 0].item<float>();
        Assert.Contains(Enumerable.Range(0, 10), i => Enumerable.Range(0, 3).All(c =>
            Math.Abs((Cifar10Files.Pixel(i, c, 0, 0) / 255f - 0.5f) / task.Normalization.Std[c] - expected[c]) < 1e-5));
    }

    [Theory]
    [InlineData("colour", "1", "Task:Settings:colour is not a setting of the task 'cifar10-binary'; its settings: augment, crop_padding")]
    [InlineData("mean", "0.5,0.5", "Task:Settings:mean has 2 values; the images have 3 channel(s)")]
    [InlineData("rotation", "200", "Task:Settings:rotation = '200' is invalid; accepted: a number from 0 to 180")]
    [InlineData("horizontal_flip", "yes", "Task:Settings:horizontal_flip = 'yes' is invalid")]
    public void A_bad_setting_is_named(string key, string value, string message)
    {
        using var files = Cifar10Files.Standard();
        using var task = new Cifar10BinaryTask();
        var settings = Settings((key, value));
        if (key == "mean") settings["std"] = "0.2";
        var e = Assert.Throws<ArgumentException>(() => task.Configure(TaskContext.Empty with { DataPath = files.Directory, Settings = settings }));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Mean_without_std_is_refused_before_any_file_is_read()
    {
        using var task = new Cifar10BinaryTask();
        var e = Assert.Throws<ArgumentException>(() => task.Configure(TaskContext.Empty with { DataPath = "/nowhere", Settings = Settings(("mean", "0.5")) }));
        Assert.Contains("Set both Task:Settings:mean and Task:Settings:std, or neither", e.Message);
    }
}
