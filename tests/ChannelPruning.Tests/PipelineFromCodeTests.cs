using Microsoft.Extensions.Logging.Abstractions;
using Plugins.ChannelPruning;
using Trainer.Plugins.Quantizers;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Quantization;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Trainer.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>Train → compress → finetune → export → quantize as library calls on a task of the test's own, as
/// examples/CompressFromCode does on Fashion-MNIST.</summary>
public sealed class PipelineFromCodeTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-from-code-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void The_whole_pipeline_runs_from_code_and_each_stage_hands_the_next_a_model_that_reloads()
    {
        var loggers = NullLoggerFactory.Instance;
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        torch.manual_seed(1);
        var recipe = new TrainerRecipe();
        var model = LoadedModel.Of("tiny-net", () => new TinyNet(), task.ExampleInputShape);
        recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(32, 0, 1), task.ValidationLoader(64),
            $"{_dir}/runs/train", $"{_dir}/ckpt/train", Epochs: 2, LearningRate: 0.05), loggers).Run();

        var compressed = new CompressionSession(task, new ChannelPruningCompressor(),
                new CompressionSessionOptions { TargetFlopsRatio = 0.8, Settings = new Dictionary<string, string> { ["method"] = "l1" } }, recipe, loggers)
            .Run(model, new CompressionRun($"{_dir}/ckpt/compress", $"{_dir}/runs/compress", BatchSize: 32, EvalBatchSize: 64));
        var exported = new InferenceExport(NullLogger.Instance)
            .Export(model with { Network = compressed.Model, Manifest = compressed.Manifest }, $"{_dir}/ckpt/export", $"{_dir}/cache");
        using var fromExport = CompressedModel.Load(exported.ManifestPath, model.Create, out var exportManifest);
        var quantized = new TaskQuantization(task, new ObserverQuantizer(), new TaskQuantizationOptions(), recipe, loggers)
            .Run(model with { Network = fromExport, Manifest = exportManifest },
                new QuantizationRun($"{_dir}/ckpt/quantize", $"{_dir}/runs/quantize", BatchSize: 32, EvalBatchSize: 64));

        Assert.True(compressed.Manifest.Current.Macs <= 0.8 * compressed.Manifest.Original.Macs);
        Assert.Equal(["channel-pruning", InferenceExport.Step], exported.Manifest.Iterations.Select(i => i.Compressor));
        Assert.Equal(2, exported.FoldedBatchNorms);                                                // bn1 and bn2
        Assert.True(exported.ReloadMaxAbsDifference <= 1e-5, $"reload diff {exported.ReloadMaxAbsDifference}");
        Assert.Equal(4, quantized.Layers);                                                         // conv1, conv2, conv3, fc
        Assert.True(File.Exists(quantized.ExportPath));
        Assert.Equal(task.Score, quantized.Score);
        // Int8 changes the error by a few samples of 128 at most on this well-separated task.
        Assert.True(Math.Abs(quantized.QuantizedScore - quantized.FloatScore) <= 0.1,
            $"error {quantized.FloatScore} float, {quantized.QuantizedScore} quantized");
        compressed.Model.Dispose();
    }
}
