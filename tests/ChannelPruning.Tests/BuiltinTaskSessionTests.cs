using Microsoft.Extensions.Logging.Abstractions;
using Plugins.ChannelPruning;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Trainer.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>
/// Each built-in task from its settings alone, on small data written in its format: its own model trained, pruned to a MACs
/// target and finetuned by the compression session, put in inference form (BatchNorm folded) and reloaded from the manifest
/// with the task's model factory.
/// </summary>
public sealed class BuiltinTaskSessionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-builtin-" + Guid.NewGuid().ToString("N"));

    public BuiltinTaskSessionTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("cifar10-binary", "")]
    [InlineData("image-folder", "")]
    [InlineData("tabular", "regression")]
    [InlineData("tabular", "classification")]
    public void A_built_in_task_trains_compresses_finetunes_and_exports_its_own_model(string name, string objective)
    {
        var (path, settings) = (name, objective) switch
        {
            ("cifar10-binary", _) => (TaskDataFiles.WriteCifar(_dir), new Dictionary<string, string> { ["width"] = "8" }),
            ("image-folder", _) => (TaskDataFiles.WriteImageFolder(_dir), new Dictionary<string, string> { ["width"] = "8", ["image_size"] = "8" }),
            _ => (TaskDataFiles.WriteCsv(_dir, objective == "classification"), new Dictionary<string, string> { ["objective"] = objective, ["hidden"] = "16,16" }),
        };
        using var task = TaskCatalog.Create(name);
        task.Configure(TaskContext.Empty with { DataPath = path, Settings = settings });
        torch.manual_seed(1);
        var model = LoadedModel.Of(name, () => task.CreateModel()!, task.ExampleInputShape);
        var recipe = new TrainerRecipe();
        recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(16, 0, 1), task.ValidationLoader(32),
            Path.Combine(_dir, "runs", "train"), Path.Combine(_dir, "ckpt", "train"), Epochs: 2, LearningRate: 0.02), NullLoggerFactory.Instance).Run();

        var session = new CompressionSession(task, new ChannelPruningCompressor(),
            new CompressionSessionOptions { TargetFlopsRatio = 0.7, Settings = new Dictionary<string, string> { ["method"] = "l1" } }, recipe, NullLoggerFactory.Instance);
        var outcome = session.Run(model, new CompressionRun(Path.Combine(_dir, "ckpt", "compress"), Path.Combine(_dir, "runs", "compress"), BatchSize: 16, EvalBatchSize: 32));

        var manifest = outcome.Manifest;
        Assert.Equal(task.Score, manifest.Score);
        Assert.True(manifest.Current.Macs <= 0.7 * manifest.Original.Macs, $"MACs {manifest.Current.Macs} of {manifest.Original.Macs}");
        Assert.True(double.IsFinite(manifest.Current.Score));
        Assert.True(File.Exists(Path.Combine(_dir, "ckpt", "compress", "iteration-1", "best.ckpt")));   // finetuned by the task's trainer

        using var reloaded = CompressedModel.Load(outcome.ManifestPath, () => task.CreateModel()!, out _);
        var shape = (long[])task.ExampleInputShape.Clone();
        shape[0] = 4;
        using var scope = NewDisposeScope();
        var input = randn(shape, generator: new Generator(5));
        outcome.Model.eval();
        reloaded.eval();
        var compressed = outcome.Model.call(input);
        Assert.True((reloaded.call(input) - compressed).abs().max().item<float>() < 1e-5);
        InferenceForm.Apply(reloaded, task.ExampleInputShape, logger: NullLogger.Instance);
        using (inference_mode())
            Assert.True((reloaded.call(input) - compressed).abs().max().item<float>() < 1e-3, "the inference form computes what the compressed model computes");
        Assert.Equal(task.ScoreOf(outcome.Model, task.ValidationLoader(32)), task.ScoreOf(reloaded, task.ValidationLoader(32)), 3);
    }
}
