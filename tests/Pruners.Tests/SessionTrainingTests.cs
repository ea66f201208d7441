using Microsoft.Extensions.Logging.Abstractions;
using Plugins.Pruners;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Trainer.Tests.Shared;

namespace Pruners.Tests;

/// <summary>The data-driven pruners through Core's compression session: the session hands them the task's own training
/// (CompressionRequest.Train), and the pruned model is what the manifest records.</summary>
public sealed class SessionTrainingTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "trainer-pruners-session-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    [Theory]
    [InlineData("slim", """[{"op_types": ["BatchNorm2d"], "total_sparsity": 0.5}]""", "training_epochs", "1")]
    [InlineData("taylor-fo", """[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""", "training_steps", "3")]
    [InlineData("apoz", """[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""", "training_steps", "3")]
    public void A_session_trains_for_the_pruner_with_the_tasks_trainer_then_prunes(string pruner, string configList, string key, string value)
    {
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        TorchSharp.torch.manual_seed(2);
        var model = LoadedModel.Of("tiny-bn-net", () => new TinyNet(), task.ExampleInputShape);
        NniPrunerCompressor compressor = pruner switch
        {
            "slim" => new SlimPrunerCompressor(),
            "taylor-fo" => new TaylorFoPrunerCompressor(),
            _ => new ApozPrunerCompressor(),
        };
        var options = new CompressionSessionOptions
        {
            TargetFlopsRatio = 0.9, FinetuneEpochs = 0, RoundTo = 1,
            Settings = new Dictionary<string, string> { ["config_list"] = configList, [key] = value },
        };
        var run = new CompressionRun(Path.Combine(dir, "ckpt"), Path.Combine(dir, "runs"), BatchSize: 32, EvalBatchSize: 64);

        var outcome = new CompressionSession(task, compressor, options, new TrainerRecipe(), NullLoggerFactory.Instance).Run(model, run);

        // The task's trainer ran the pruner's training and left its checkpoint (256 samples of 32: 8 steps an epoch).
        Assert.True(File.Exists(Path.Combine(run.CheckpointDir, "iteration-1-compressor-training", "last.ckpt")));
        var channels = outcome.Manifest.Iterations[0].Channels;
        if (pruner == "slim") Assert.True(channels["conv1"] + channels["conv2"] == 12, $"slim kept {channels["conv1"]} + {channels["conv2"]} of 24");
        else Assert.Equal((4, 8), (channels["conv1"], channels["conv2"]));
        Assert.True(outcome.Manifest.Current.Macs < outcome.Manifest.Original.Macs);
    }
}
