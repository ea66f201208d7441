using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Compression;

/// <summary>Where a compression session writes, and the batches it reads.</summary>
/// <param name="CheckpointDir">Manifest, weights, journals and finetuning checkpoints.</param>
/// <param name="LogDir">TensorBoard events of the rounds and of each finetuning.</param>
/// <param name="Resume">Continue after the last finished round of a manifest already in <paramref name="CheckpointDir"/>.</param>
/// <param name="BatchSize">Training batch size (compressors' sampling and finetuning).</param>
/// <param name="EvalBatchSize">Validation batch size.</param>
/// <param name="Seed">Seed of the training batches' order.</param>
/// <param name="SubsetRatio">Fraction of the training data used, in (0, 1].</param>
public sealed record CompressionRun(string CheckpointDir, string LogDir, bool Resume = false, int BatchSize = 64, int EvalBatchSize = 256,
    long Seed = 0, double SubsetRatio = 1.0);

/// <summary>What a compression session made.</summary>
/// <param name="Manifest">The manifest of the last finished round (reload it with <see cref="CompressedModel.Load"/>).</param>
/// <param name="ManifestPath">Where it is.</param>
/// <param name="Model">The compressed model of the last finished round.</param>
/// <param name="StopReason">Why the rounds stopped.</param>
public sealed record CompressionOutcome(CompressionManifest Manifest, string ManifestPath, torch.nn.Module<torch.Tensor, torch.Tensor> Model,
    string StopReason);

/// <summary>
/// Compresses a model for a task: compress step (a compressor plugin, with the core's editor and allocation) → finetune
/// with the task's own trainer → score → save the manifest and weights, round after round, until the MACs or latency
/// target is met or the score gets worse than the threshold. Each finished round is saved, and each decision that rests
/// on a timing is journalled before the work after it, so a resumed session ends where an unbroken one would.
/// </summary>
public sealed class CompressionSession(TrainingTask task, ICompressor compressor, CompressionSessionOptions options, TrainerRecipe recipe,
    ILoggerFactory loggers)
{
    /// <summary>File name of the manifest in the run's checkpoint folder.</summary>
    public const string ManifestFileName = "manifest.json";

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Compress");

    /// <summary>Compresses <paramref name="original"/> (a trained model, or one a manifest rebuilt).</summary>
    /// <exception cref="CompressionSettingsException">A setting the allocation or the compressor cannot use.</exception>
    /// <exception cref="InvalidOperationException">The folder has results already and <see cref="CompressionRun.Resume"/> is off.</exception>
    public CompressionOutcome Run(LoadedModel original, CompressionRun run)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(run);
        var o = options;
        var manifestPath = Path.Combine(run.CheckpointDir, ManifestFileName);
        var resuming = IO.FileBytes.Exists(manifestPath, "Compression manifest", message => new InvalidDataException(message));
        if (resuming && !run.Resume)
            throw new InvalidOperationException($"'{manifestPath}' already holds compression results; resume, or compress into another folder.");

        o.CheckLatencyForm();
        try
        {
            compressor.CheckSettings(o.Settings);
        }
        catch (ArgumentException e)
        {
            throw new CompressionSettingsException("Settings", $"compressor '{compressor.Name}': {e.Message}", e);
        }

        Tasks.ExampleInputCheck.Ensure(original.Network, original.Name, original.InputShape, task);
        var trainLoader = task.TrainLoader(run.BatchSize, run.Seed, run.SubsetRatio);
        using var trainLease = trainLoader as IDisposable;
        var valLoader = task.ValidationLoader(run.EvalBatchSize);
        using var valLease = valLoader as IDisposable;
        // Compressors' own checks (accuracy-first modes) score on a cheap fixed subset.
        var scoreLoader = task.ScoreLoader(o.AccuracySamples, 500);
        using var scoreLease = scoreLoader as IDisposable;
        var measure = new ModelMeasurer(original.InputShape, net => task.ScoreOf(net, valLoader));
        var steps = new CompressionStepRunner(o, loggers);

        Directory.CreateDirectory(run.CheckpointDir);
        var originalWeights = Path.Combine(run.CheckpointDir, "original.weights");
        CompressionManifest manifest;
        torch.nn.Module<torch.Tensor, torch.Tensor> model;
        if (resuming)
        {
            model = CompressedModel.Load(manifestPath, original.Create, out manifest);
            Checkpoints.CheckpointFile.LoadWeights(originalWeights, original.Network);
            _logger.LogInformation("Resuming after iteration {Done} of {Total}.", manifest.Iterations.Count, o.Iterations);
        }
        else
        {
            Checkpoints.CheckpointFile.SaveWeights(originalWeights, original.Network);
            manifest = new CompressionManifest { Model = original.Identity, Original = measure.Of(original.Network), Score = task.Score };
            model = ModelCopy.Create(original.Create, original.InputShape, original.Manifest?.AllEdits ?? [], original.Network);
            if (original.Manifest is not null) manifest = manifest with { Iterations = original.Manifest.Iterations };
            _logger.LogInformation("Original '{Name}': {Macs:N0} MACs, {Params:N0} parameters, {Score}, latency {Latency:0.000} ms.",
                original.Name, manifest.Original.Macs, manifest.Original.Params, task.Score.Format(manifest.Original.Score), manifest.Original.LatencyMs);
        }

        var board = new CompressionBoard(run.LogDir);
        board.Log(0, manifest.Original, null);
        var stopReason = $"all {o.Iterations} iteration(s) ran";
        bool byLatency = o.TargetLatencyRatio > 0;
        // A resumed session whose last finished round met its target stops for the reason the unbroken one did.
        var done = resuming && manifest.Iterations.Count > (original.Manifest?.Iterations.Count ?? 0) ? TargetMet(manifest, manifest.Iterations[^1]) : null;
        if (done is not null) stopReason = done;
        for (var index = manifest.Iterations.Count + 1; done is null && index <= o.Iterations; index++)
        {
            var target = Math.Pow(o.TargetFlopsRatio, (double)index / o.Iterations);
            double? latencyTarget = byLatency ? Math.Pow(o.TargetLatencyRatio, (double)index / o.Iterations) : null;
            // Decisions that rest on timings are journalled before the work after them; a resumed attempt replays them.
            var journalPath = IterationJournal.PathFor(run.CheckpointDir, index);
            var journal = run.Resume ? IterationJournal.TryLoad(journalPath, index, target, latencyTarget, _logger) : null;
            var started = journal ?? new IterationJournal { Index = index, TargetOfOriginal = target, LatencyTargetOfOriginal = latencyTarget };
            var (compressed, result, edits, decision) = steps.Run(new CompressionStepInput(compressor, model, original, manifest, target, trainLoader,
                net => task.ScoreOf(net, scoreLoader), task.Score, latencyTarget, journal?.Decision,
                decided => (started = started with { Allocation = decided.Allocation, TimedBy = decided.TimedBy }).Save(journalPath),
                training => TrainForCompressor(model, training, index, run, trainLoader, valLoader)));
            model = compressed;
            ModelMetrics afterCompress;
            double speedup;
            if (journal is { AfterCompress: { } measured, Speedup: { } recorded })
            {
                // The score is taken again (the weights are the same); the timing is the interrupted attempt's.
                afterCompress = measure.Of(model, measured.LatencyMs);
                speedup = recorded;
            }
            else
            {
                (afterCompress, speedup) = measure.OfAgainst(original.Network, model);
                (started with { AfterCompress = afterCompress, Speedup = speedup }).Save(journalPath);
            }
            _logger.LogInformation("Iteration {Index}: {Summary} Before finetuning: {Score}.", index, result.Summary, task.Score.Format(afterCompress.Score));

            var afterFinetune = afterCompress;
            if (o.FinetuneEpochs > 0)
            {
                Finetune(model, original.Network, index, run, trainLoader, valLoader);
                afterFinetune = measure.Of(model, afterCompress.LatencyMs);
            }
            if (o.ScoreThreshold is { } threshold && !task.Score.Meets(afterFinetune.Score, threshold))
            {
                stopReason = $"iteration {index} reached {task.Score.Format(afterFinetune.Score)}, not {task.Score.ThresholdWord} " +
                             $"the score threshold {threshold}; kept the model of iteration {index - 1}";
                model.Dispose();
                model = manifest.Iterations.Count > (original.Manifest?.Iterations.Count ?? 0)
                    ? CompressedModel.Load(manifestPath, original.Create, out _)
                    : ModelCopy.Create(original.Create, original.InputShape, original.Manifest?.AllEdits ?? [], original.Network);
                break;
            }

            var iteration = new CompressionIteration
            {
                Index = index, Compressor = compressor.Name, Edits = edits, TargetLatencyRatio = latencyTarget, Speedup = speedup,
                // Under a latency budget the allocation chose the MACs: the target is what it aimed at.
                TargetMacsRatio = byLatency ? (double)afterCompress.Macs / manifest.Original.Macs : target,
                AfterCompress = afterCompress, AfterFinetune = afterFinetune, Channels = ModelMeasurer.Channels(model, original.InputShape),
                Notes = result.Layers, Summary = result.Summary, TimingDecisions = TimingDecisions(decision, byLatency),
            };
            manifest = CompressedModel.Save(manifestPath, Path.Combine(run.CheckpointDir, $"iteration-{index}.weights"),
                manifest with { Iterations = [.. manifest.Iterations, iteration] }, model);
            board.Log(index, afterFinetune, iteration);
            if (TargetMet(manifest, iteration) is { } met)
            {
                stopReason = met;
                break;
            }
        }
        _logger.LogInformation("Compression stopped: {Reason}. Manifest: '{Manifest}'.", stopReason, manifestPath);
        return new CompressionOutcome(manifest, manifestPath, model, stopReason);
    }

    /// <summary>Why the rounds stop after <paramref name="iteration"/>, or null to go on: the latency target met (by the speedup
    /// measured against the original) or, under a MACs target, the MACs target met.</summary>
    private string? TargetMet(CompressionManifest manifest, CompressionIteration iteration)
    {
        var o = options;
        if (o.TargetLatencyRatio > 0)
            return iteration.Speedup is { } speedup && 1 / speedup <= o.TargetLatencyRatio
                ? $"the latency target was met ({1 / speedup:0.000} of the original's, measured alternately; target {o.TargetLatencyRatio})"
                : null;
        var macs = iteration.AfterFinetune.Macs;
        return macs <= o.TargetFlopsRatio * manifest.Original.Macs
            ? $"the MACs target was met ({(double)macs / manifest.Original.Macs:0.000} of the original, target {o.TargetFlopsRatio})"
            : null;
    }

    /// <summary>What timings decided in an iteration, for its manifest entry and the report.</summary>
    private static IReadOnlyList<string> TimingDecisions(AllocationDecision decision, bool byLatency) => byLatency
        ? [.. decision.TimedBy, "whether to go on: the speedup measured against the original right after the compress step"]
        : decision.TimedBy;

    /// <summary>A data-driven compressor's training (NNI's evaluator.train): the task's trainer at the recipe's learning rate,
    /// with the compressor's loss terms and callbacks, validated as finetuning is. Epochs cover the steps asked for.</summary>
    private void TrainForCompressor(torch.nn.Module<torch.Tensor, torch.Tensor> model, TaskTraining training, int index, CompressionRun run,
        IBatchLoader trainLoader, IBatchLoader valLoader)
    {
        ArgumentNullException.ThrowIfNull(training);
        var epochs = training.MaxSteps > 0
            ? Math.Max(training.Epochs, (training.MaxSteps + trainLoader.BatchCount - 1) / trainLoader.BatchCount)
            : Math.Max(1, training.Epochs);
        var checkpointDir = Path.Combine(run.CheckpointDir, $"iteration-{index}-compressor-training");
        if (Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        var trainer = recipe.Create(task, new TrainingRunSpec(model, trainLoader, valLoader, Path.Combine(run.LogDir, $"iteration-{index}-compressor-training"),
            checkpointDir, epochs, recipe.Optimizer.LearningRate, MaxSteps: training.MaxSteps, LossHooks: training.LossHooks), loggers, training.Callbacks);
        var result = trainer.Run();
        _logger.LogInformation("Iteration {Index}: the compressor trained {Epochs} epoch(s), {Reason}.", index, result.EpochsCompleted, result.StopReason);
    }

    private void Finetune(torch.nn.Module<torch.Tensor, torch.Tensor> model, torch.nn.Module<torch.Tensor, torch.Tensor> teacher, int index,
        CompressionRun run, IBatchLoader trainLoader, IBatchLoader valLoader)
    {
        var o = options;
        var checkpointDir = Path.Combine(run.CheckpointDir, $"iteration-{index}");
        // An unfinished iteration restarts from its compress step, so a crashed attempt's checkpoints are stale.
        if (Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        var trainer = recipe.Create(task, new TrainingRunSpec(model, trainLoader, valLoader, Path.Combine(run.LogDir, $"iteration-{index}"),
            checkpointDir, o.FinetuneEpochs, o.FinetuneLearningRate > 0 ? o.FinetuneLearningRate : recipe.Optimizer.LearningRate / 10,
            o.Distill ? teacher : null, o.Distillation), loggers);
        var result = trainer.Run();
        _logger.LogInformation("Iteration {Index}: finetuned {Epochs} epoch(s), {Reason}.", index, result.EpochsCompleted, result.StopReason);
    }
}
