using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Data;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Tasks;

/// <summary>The built-in task written against the task contract: its data, trainer, model and score.</summary>
public sealed class FashionMnistTaskTests
{
    private static IdxTestFiles Files(int train, int test)
    {
        var files = new IdxTestFiles();
        foreach (var (prefix, count) in new[] { ("train", train), ("t10k", test) })
        {
            var pixels = new byte[count * 28 * 28];
            for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)((i / 784 * 31 + i % 784) % 256);
            files.WriteIdx($"{prefix}-images-idx3-ubyte", [count, 28, 28], pixels, gzip: false);
            files.WriteIdx($"{prefix}-labels-idx1-ubyte", [count], Enumerable.Range(0, count).Select(i => (byte)(i % 10)).ToArray(), gzip: false);
        }
        return files;
    }

    [Fact]
    public void The_catalog_builds_it_by_name_and_it_serves_loaders_model_trainer_and_accuracy()
    {
        using var files = Files(train: 20, test: 7);
        using var task = TaskCatalog.Create("Fashion-MNIST");
        task.Configure(TaskContext.Empty with { DataPath = files.Directory });

        Assert.Equal("fashion-mnist", task.Name);
        Assert.Equal(TaskScore.Accuracy, task.Score);
        Assert.Equal([1, 1, 28, 28], task.ExampleInputShape);
        var train = task.TrainLoader(batchSize: 8, seed: 0, subsetRatio: 0.5);
        Assert.Equal(10, train.SampleCount);
        var validation = task.ValidationLoader(batchSize: 4);
        Assert.Equal(7, validation.SampleCount);
        var scoring = task.ScoreLoader(samples: 5, batchSize: 4);
        using (NewDisposeScope())
            Assert.Equal([4, 1], scoring.GetBatches(0).Select(b => b.Size));

        using var model = task.CreateModel();
        Assert.IsType<FashionCnn>(model);
        var score = task.ScoreOf(model, scoring);
        Assert.Equal(ClassificationAccuracy.Of(model, new FirstSamplesLoader(task.ValidationLoader(4), 5)), score);
        Assert.Contains(score, new[] { 0.0, 0.2, 0.4, 0.6, 0.8, 1.0 });   // k of 5 right
        var setup = new TrainerSetup { Network = model, TrainLoader = train, Optimizer = optim.SGD(model.parameters(), 0.01) };
        Assert.IsType<ClassificationTrainer>(task.CreateTrainer(setup));
    }

    [Fact]
    public void A_setting_it_does_not_know_is_named()
    {
        using var files = Files(train: 2, test: 2);
        using var task = new FashionMnistTask();
        var e = Assert.Throws<ArgumentException>(() =>
            task.Configure(new TaskContext(files.Directory, new Dictionary<string, string> { ["colour"] = "red" }, TaskContext.Empty.Logger)));
        Assert.Contains("Task:Settings:colour", e.Message);
    }

    [Fact]
    public void An_unknown_task_name_lists_the_built_in_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => TaskCatalog.Create("cifar"));
        Assert.Contains("fashion-mnist", e.Message);
        Assert.Contains("Task:Assembly", e.Message);
    }

    private sealed class NanTask : TrainingTask
    {
        public override string Name => "nan";
        public override TaskScore Score => new("psnr", ScoreDirection.HigherIsBetter);
        public override long[] ExampleInputShape => [1, 2];
        public override void Configure(TaskContext context) { }
        public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
        public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
        public override BaseTrainer CreateTrainer(TrainerSetup setup) => throw new NotSupportedException();
        protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => double.NaN;
    }

    [Fact]
    public void A_score_that_is_not_a_number_is_an_error_naming_the_task_and_the_score()
    {
        using var task = new NanTask();
        using var model = nn.Linear(2, 2);
        var e = Assert.Throws<InvalidOperationException>(() => task.ScoreOf(model, new FixedBatchLoader(1, 2)));
        Assert.Contains("'nan'", e.Message);
        Assert.Contains("psnr = NaN", e.Message);
    }
}
