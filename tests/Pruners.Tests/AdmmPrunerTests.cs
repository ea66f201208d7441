using Microsoft.Extensions.Logging.Abstractions;
using Plugins.Pruners;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Trainer.Tests.Shared;

namespace Pruners.Tests;

/// <summary>The admm compressor through Core's compression session: it trains through the task with its penalty, then
/// prunes the config list's sparsity, channels (coarse-grained) or single weights (fine-grained).</summary>
public sealed class AdmmPrunerTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "trainer-admm-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private CompressionOutcome Run(string granularity)
    {
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        TorchSharp.torch.manual_seed(2);
        var model = LoadedModel.Of("tiny-bn-net", () => new TinyNet(), task.ExampleInputShape);
        var options = new CompressionSessionOptions
        {
            TargetFlopsRatio = 0.9, FinetuneEpochs = 0, RoundTo = 1, Iterations = 1,
            Settings = new Dictionary<string, string>
            {
                ["config_list"] = """[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""",
                ["granularity"] = granularity, ["iterations"] = "2", ["rho"] = "0.01",
            },
        };
        var run = new CompressionRun(Path.Combine(dir, granularity, "ckpt"), Path.Combine(dir, granularity, "runs"), BatchSize: 32, EvalBatchSize: 64);
        var outcome = new CompressionSession(task, new AdmmPrunerCompressor(), options, new TrainerRecipe(), NullLoggerFactory.Instance).Run(model, run);
        Assert.True(File.Exists(Path.Combine(run.CheckpointDir, "iteration-1-compressor-training", "last.ckpt")));
        return outcome;
    }

    [Fact]
    public void CoarseGrainedAdmmRemovesHalfOfEachConvsChannels()
    {
        var outcome = Run("coarse-grained");
        var channels = outcome.Manifest.Iterations[0].Channels;
        Assert.Equal((4, 8), (channels["conv1"], channels["conv2"]));
        Assert.True(outcome.Manifest.Current.Macs < outcome.Manifest.Original.Macs);
    }

    [Fact]
    public void FineGrainedAdmmZeroesHalfOfEachConvsWeights()
    {
        var outcome = Run("fine-grained");
        foreach (var (name, p) in outcome.Model.named_parameters().Where(p => p.name is "conv1.weight" or "conv2.weight"))
        {
            long zeros = p.numel() - p.count_nonzero().item<long>();
            Assert.Equal(p.numel() / 2, zeros);
        }
        Assert.Contains("training_epochs", Assert.Throws<ArgumentException>(() => new AdmmPrunerCompressor().CheckSettings(
            new Dictionary<string, string> { ["config_list"] = """[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""", ["training_epochs"] = "0" })).Message);
    }
}
