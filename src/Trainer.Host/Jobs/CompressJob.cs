using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Latency;
using Trainer.Core.Training;
using Trainer.Host.Options;
using Trainer.Host.Plugins;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer compress`: loads a trained model and iterates compress step (a plugin) → finetune → evaluate → log → save
/// until the MACs target is met or accuracy falls under the threshold. Each finished iteration is saved as a manifest
/// plus weights, so a crashed run resumes at the last finished iteration and the result reloads anywhere.
/// </summary>
public sealed class CompressJob(
    IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, IOptions<ModelOptions> modelOptions,
    IOptions<CompressionOptions> compressionOptions, PluginLoader plugins, Tasks.TaskProvider tasks, TrainerFactory trainers,
    CompressionStepRunner steps, ILoggerFactory loggers)
{
    /// <summary>File name of the manifest in the stage's checkpoint folder.</summary>
    public const string ManifestFileName = "manifest.json";

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Compress");

    /// <summary>Runs the stage. <paramref name="folders"/> and <paramref name="checkpoint"/> come from a pipeline's training
    /// stage; alone, the run's folders come from the Trainer section and the model from the Model section.</summary>
    public CompressionManifest Run(RunFolders? folders = null, string? checkpoint = null)
    {
        var o = compressionOptions.Value;
        var t = trainerOptions.Value;
        var compressor = FindCompressor(o);
        var stage = (folders ?? RunFolders.Resolve(t, stage: "compress")).Stage("compress");
        var manifestPath = Path.Combine(stage.CheckpointDir, ManifestFileName);
        var resuming = Core.IO.FileBytes.Exists(manifestPath, "Compression manifest", message => new InvalidDataException(message));
        if (resuming && !t.Resume)
            throw new JobException($"The run '{stage.RunName}' already has compression results in '{manifestPath}'. " +
                                   "Pass --resume to continue it, or choose another --Trainer:RunName.");
        if (t.Threads > 0) torch.set_num_threads(t.Threads);

        var task = tasks.Task;
        var original = ModelLoader.LoadTrained(modelOptions.Value, _logger, "compress", task, checkpoint);

        var trainLoader = task.TrainLoader(t.BatchSize, t.Seed, dataOptions.Value.SubsetRatio);
        using var trainLease = trainLoader as IDisposable;
        var valLoader = task.ValidationLoader(t.EvalBatchSize);
        using var valLease = valLoader as IDisposable;
        // Compressors' own checks (accuracy-first modes) score on a cheap fixed subset.
        var scoreLoader = task.ScoreLoader(o.AccuracySamples, 500);
        using var scoreLease = scoreLoader as IDisposable;
        var measure = new ModelMeasurer(original.InputShape, net => task.ScoreOf(net, valLoader));

        Directory.CreateDirectory(stage.CheckpointDir);
        var originalWeights = Path.Combine(stage.CheckpointDir, "original.weights");
        CompressionManifest manifest;
        torch.nn.Module<torch.Tensor, torch.Tensor> model;
        if (resuming)
        {
            model = CompressedModel.Load(manifestPath, original.Create, out manifest);
            Core.Checkpoints.CheckpointFile.LoadWeights(originalWeights, original.Network);
            _logger.LogInformation("Resuming '{Run}' after iteration {Done} of {Total}.", stage.RunName, manifest.Iterations.Count, o.Iterations);
        }
        else
        {
            Core.Checkpoints.CheckpointFile.SaveWeights(originalWeights, original.Network);
            manifest = new CompressionManifest { Model = original.Identity, Original = measure.Of(original.Network), Score = task.Score };
            model = ModelCopy.Create(original.Create, original.InputShape, original.Manifest?.AllEdits ?? [], original.Network);
            if (original.Manifest is not null) manifest = manifest with { Iterations = original.Manifest.Iterations };
            _logger.LogInformation("Original '{Name}': {Macs:N0} MACs, {Params:N0} parameters, {Score}, latency {Latency:0.000} ms.",
                original.Name, manifest.Original.Macs, manifest.Original.Params, task.Score.Format(manifest.Original.Score), manifest.Original.LatencyMs);
        }

        var board = new CompressionBoard(stage.LogDir);
        board.Log(0, manifest.Original, null);
        var stopReason = $"all {o.Iterations} iteration(s) ran";
        bool byLatency = o.TargetLatencyRatio > 0;
        for (var index = manifest.Iterations.Count + 1; index <= o.Iterations; index++)
        {
            var target = Math.Pow(o.TargetFlopsRatio, (double)index / o.Iterations);
            double? latencyTarget = byLatency ? Math.Pow(o.TargetLatencyRatio, (double)index / o.Iterations) : null;
            // Decisions that rest on timings are journalled before the work after them; a resumed attempt replays them.
            var journalPath = IterationJournal.PathFor(stage.CheckpointDir, index);
            var journal = t.Resume ? IterationJournal.TryLoad(journalPath, index, target, latencyTarget, _logger) : null;
            var started = journal ?? new IterationJournal { Index = index, TargetOfOriginal = target, LatencyTargetOfOriginal = latencyTarget };
            var (compressed, result, edits, decision) = steps.Run(new CompressionStepInput(compressor, model, original, manifest, target, trainLoader,
                net => task.ScoreOf(net, scoreLoader), task.Score, latencyTarget, journal?.Decision,
                decided => (started = started with { Allocation = decided.Allocation, TimedBy = decided.TimedBy }).Save(journalPath)));
            model = compressed;
            ModelMetrics afterCompress;
            double speedup;
            if (journal is { AfterCompress: { } measured, Speedup: { } recorded })
            {
                // Accuracy is recomputed (the weights are the same); the timing is the interrupted attempt's.
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
                Finetune(model, original.Network, index, stage, trainLoader, valLoader);
                afterFinetune = measure.Of(model, afterCompress.LatencyMs);
            }
            if (o.ScoreThreshold is { } threshold && !task.Score.Meets(afterFinetune.Score, threshold))
            {
                stopReason = $"iteration {index} reached {task.Score.Format(afterFinetune.Score)}, not {task.Score.ThresholdWord} " +
                             $"Compression:ScoreThreshold {threshold}; kept the model of iteration {index - 1}";
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
            manifest = CompressedModel.Save(manifestPath, Path.Combine(stage.CheckpointDir, $"iteration-{index}.weights"),
                manifest with { Iterations = [.. manifest.Iterations, iteration] }, model);
            board.Log(index, afterFinetune, iteration);
            if (byLatency)
            {
                if (1 / speedup > o.TargetLatencyRatio) continue;
                stopReason = $"the latency target was met ({1 / speedup:0.000} of the original's, measured alternately; target {o.TargetLatencyRatio})";
                break;
            }
            if (afterFinetune.Macs <= o.TargetFlopsRatio * manifest.Original.Macs)
            {
                stopReason = $"the MACs target was met ({(double)afterFinetune.Macs / manifest.Original.Macs:0.000} of the original, " +
                             $"target {o.TargetFlopsRatio})";
                break;
            }
        }
        _logger.LogInformation("Compression stopped: {Reason}. Manifest: '{Manifest}'.", stopReason, manifestPath);
        CompressionReport.Write(stage, manifest, manifestPath, stopReason, _logger);
        return manifest;
    }

    /// <summary>What timings decided in an iteration, for its manifest entry and the report.</summary>
    private static IReadOnlyList<string> TimingDecisions(AllocationDecision decision, bool byLatency) => byLatency
        ? [.. decision.TimedBy, "whether to go on: the speedup measured against the original right after the compress step"]
        : decision.TimedBy;

    private ICompressor FindCompressor(CompressionOptions o)
    {
        if (o.Compressor.Length == 0)
            throw new JobException("Compression:Compressor is empty; name the compressor to run" + Available());
        try
        {
            return plugins.GetCompressor(o.Compressor);
        }
        catch (KeyNotFoundException)
        {
            throw new JobException($"Compression:Compressor = '{o.Compressor}' is not a loaded compressor" + Available() +
                                   " Add the plugin that provides it to Compression:Plugins.");
        }

        string Available() => plugins.Compressors.Count == 0
            ? " (no plugin is loaded: list one in Compression:Plugins, e.g. ChannelPruning)."
            : $"; loaded: {string.Join(", ", plugins.Compressors.Select(c => c.Name))}.";
    }

    private void Finetune(torch.nn.Module<torch.Tensor, torch.Tensor> model, torch.nn.Module<torch.Tensor, torch.Tensor> teacher, int index,
        RunFolders stage, IBatchLoader trainLoader, IBatchLoader valLoader)
    {
        var o = compressionOptions.Value;
        var checkpointDir = Path.Combine(stage.CheckpointDir, $"iteration-{index}");
        // An unfinished iteration restarts from its compress step, so a crashed attempt's checkpoints are stale.
        if (Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        var trainer = trainers.Create(new TrainingRunSpec(model, trainLoader, valLoader,
            Path.Combine(stage.LogDir, $"iteration-{index}"), checkpointDir, o.FinetuneEpochs,
            o.FinetuneLearningRate > 0 ? o.FinetuneLearningRate : trainerOptions.Value.LearningRate / 10,
            o.Distill ? teacher : null, new DistillationOptions(o.DistillTemperature, o.DistillAlpha)));
        var result = trainer.Run();
        _logger.LogInformation("Iteration {Index}: finetuned {Epochs} epoch(s), {Reason}.", index, result.EpochsCompleted, result.StopReason);
    }
}
