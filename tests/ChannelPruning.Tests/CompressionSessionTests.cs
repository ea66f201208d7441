using Microsoft.Extensions.Logging.Abstractions;
using Plugins.ChannelPruning;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using TorchSharp;
using Trainer.Tests.Shared;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>The compress loop as library calls: a task of the test's own (its trainer, a lower-is-better score), a plugin,
/// the core's session.</summary>
public sealed class CompressionSessionTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-session-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private (TinyTask Task, LoadedModel Model, TrainerRecipe Recipe) Trained() => Trained("tiny-net", () => new TinyNet());

    private (TinyTask Task, LoadedModel Model, TrainerRecipe Recipe) Trained(string name, Func<nn.Module<Tensor, Tensor>> factory)
    {
        var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        torch.manual_seed(1);
        var model = LoadedModel.Of(name, factory, task.ExampleInputShape);
        var recipe = new TrainerRecipe();
        var result = recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(32, 0, 1), task.ValidationLoader(64),
            Path.Combine(_dir, "runs", "train"), Path.Combine(_dir, "ckpt", "train"), Epochs: 2, LearningRate: 0.05), NullLoggerFactory.Instance).Run();
        Assert.True(result.Metrics.ContainsKey("val/error"));
        return (task, model, recipe);
    }

    private CompressionSession Session(TinyTask task, TrainerRecipe recipe, double? threshold = null) => new(task, new ChannelPruningCompressor(),
        new CompressionSessionOptions { TargetFlopsRatio = 0.8, ScoreThreshold = threshold, Settings = new Dictionary<string, string> { ["method"] = "l1" } },
        recipe, NullLoggerFactory.Instance);

    [Fact]
    public void A_session_cuts_the_macs_to_its_target_finetunes_with_the_tasks_trainer_and_saves_a_manifest_that_reloads_the_same_model()
    {
        var (task, model, recipe) = Trained();
        using var taskLease = task;
        var run = new CompressionRun(Path.Combine(_dir, "ckpt", "compress"), Path.Combine(_dir, "runs", "compress"), BatchSize: 32, EvalBatchSize: 64);

        var outcome = Session(task, recipe).Run(model, run);

        var manifest = outcome.Manifest;
        Assert.Equal(task.Score, manifest.Score);
        Assert.Single(manifest.Iterations);
        Assert.True(manifest.Current.Macs <= 0.8 * manifest.Original.Macs, $"{manifest.Current.Macs} of {manifest.Original.Macs}");
        Assert.InRange(manifest.Current.Score, 0, 1);
        Assert.True(File.Exists(Path.Combine(run.CheckpointDir, "iteration-1", "best.ckpt")));      // finetuned by the task's trainer
        using var reloaded = CompressedModel.Load(outcome.ManifestPath, model.Create, out _);
        using var x = randn([4, 3, 8, 8], generator: new Generator(3));
        outcome.Model.eval();
        reloaded.eval();
        Assert.Equal(0, (reloaded.call(x) - outcome.Model.call(x)).abs().max().item<float>(), 6);

        var again = Assert.Throws<InvalidOperationException>(() => Session(task, recipe).Run(model, run));
        Assert.Contains("already holds compression results", again.Message);
    }

    [Fact]
    public void A_lower_is_better_threshold_is_a_ceiling_and_a_round_over_it_keeps_the_model_before()
    {
        var (task, model, recipe) = Trained();
        using var taskLease = task;
        var run = new CompressionRun(Path.Combine(_dir, "ckpt", "strict"), Path.Combine(_dir, "runs", "strict"), BatchSize: 32, EvalBatchSize: 64);

        // No error at all is allowed: the first round is over the ceiling.
        var outcome = Session(task, recipe, threshold: 0.0).Run(model, run);

        Assert.Empty(outcome.Manifest.Iterations);
        Assert.Contains("not at most the score threshold 0", outcome.StopReason);
        Assert.Contains("kept the model of iteration 0", outcome.StopReason);
        Assert.Equal(outcome.Manifest.Original.Macs, Trainer.Core.Analysis.FlopsCounter.Count(outcome.Model, task.ExampleInputShape).TotalFlops);
    }

    [Fact]
    public void A_session_prunes_a_concatenation_meeting_a_residual_by_lasso_and_its_manifest_reloads_the_same_model()
    {
        var (task, model, recipe) = Trained("concat-residual-se", () => new Trainer.Core.Tests.Graph.ConcatResidualSeNet());
        using var taskLease = task;
        var run = new CompressionRun(Path.Combine(_dir, "ckpt", "sliced"), Path.Combine(_dir, "runs", "sliced"), BatchSize: 32, EvalBatchSize: 64);
        var session = new CompressionSession(task, new ChannelPruningCompressor(),
            new CompressionSessionOptions { TargetFlopsRatio = 0.5, RoundTo = 2, Settings = new Dictionary<string, string> { ["trainset_ratio"] = "1" } },
            recipe, NullLoggerFactory.Instance);

        var outcome = session.Run(model, run);

        var manifest = outcome.Manifest;
        var iteration = Assert.Single(manifest.Iterations);
        Assert.True(manifest.Current.Macs <= 0.5 * manifest.Original.Macs, $"{manifest.Current.Macs} of {manifest.Original.Macs}");
        Assert.Equal(manifest.Current.Macs, Trainer.Core.Analysis.FlopsCounter.Count(outcome.Model, task.ExampleInputShape).TotalFlops);
        // The sliced group (the concatenation, its gate and the shortcut) was chosen by LASSO, both consumers refit.
        var note = iteration.Notes.Single(n => n.Layer == "branchA").Note;
        Assert.Matches(@"^branchA\+branchB\+excite\+shortcut: 16 -> \d+ channels by LASSO; squeeze: .* conv: ", note);
        var shortcut = (TorchSharp.Modules.Conv2d)outcome.Model.named_modules().Single(m => m.name == "shortcut").module;
        var branchA = (TorchSharp.Modules.Conv2d)outcome.Model.named_modules().Single(m => m.name == "branchA").module;
        var branchB = (TorchSharp.Modules.Conv2d)outcome.Model.named_modules().Single(m => m.name == "branchB").module;
        Assert.InRange(shortcut.weight!.shape[0], 2, 15);
        Assert.Equal(shortcut.weight.shape[0], branchA.weight!.shape[0] + branchB.weight!.shape[0]);

        using var reloaded = CompressedModel.Load(outcome.ManifestPath, model.Create, out _);
        using var x = randn([4, 3, 8, 8], generator: new Generator(3));
        outcome.Model.eval();
        reloaded.eval();
        Assert.Equal(0, (reloaded.call(x) - outcome.Model.call(x)).abs().max().item<float>(), 6);
    }
}
