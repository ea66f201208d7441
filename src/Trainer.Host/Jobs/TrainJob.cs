using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Pruning;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Training;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>`trainer train`: trains the model of the Model section on the task's data with the task's trainer.</summary>
public sealed class TrainJob(IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, IOptions<ModelOptions> modelOptions,
    Tasks.TaskProvider tasks, TrainerFactory trainers, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Train");

    /// <summary>Runs the job and returns what the trainer reported; <paramref name="extraCallbacks"/> run after the job's own;
    /// <paramref name="folders"/> come from a pipeline (default: resolved from the Trainer section).</summary>
    public TrainResult Run(IEnumerable<TrainerCallback>? extraCallbacks = null, RunFolders? folders = null)
    {
        var o = trainerOptions.Value;
        // A pipeline resumed before its training stage wrote a checkpoint (killed in the first epoch) trains from the start.
        bool resume = o.Resume && (folders is null || HasCheckpoint(folders));
        if (o.Resume && !resume)
            _logger.LogInformation("Resuming '{Run}': its training stage has no checkpoint yet; training from the start.", folders!.RunName);
        folders ??= RunFolders.Resolve(o, logger: _logger);
        if (o.Threads > 0) torch.set_num_threads(o.Threads);

        var task = tasks.Task;
        var trainLoader = task.TrainLoader(o.BatchSize, o.Seed, dataOptions.Value.SubsetRatio);
        using var trainLease = trainLoader as IDisposable;
        var valLoader = task.ValidationLoader(o.EvalBatchSize);
        using var valLease = valLoader as IDisposable;

        // Seed right before building the network: the same seed gives PyTorch's initial weights.
        torch.manual_seed(o.Seed);
        var model = ModelLoader.Load(modelOptions.Value, _logger, () => task);   // Model:Checkpoint = starting weights
        ModelLoader.CheckTakes(model, task);
        var network = model.Network;
        _logger.LogInformation("Run '{Run}': {Train} training and {Val} validation samples, {Epochs} epoch(s), device {Device}; " +
                               "TensorBoard logs in '{LogDir}', checkpoints in '{CheckpointDir}'.",
            folders.RunName, trainLoader.SampleCount, valLoader.SampleCount, o.Epochs, o.Device, folders.LogDir, folders.CheckpointDir);

        // Scheduled pruning reparametrises its layers now, before a resumed run loads its checkpoint (which holds the masks).
        var pruning = o.Pruning.ToConfig();
        var (targets, pruningCallback) = CreatePruning(pruning, network, new ImportanceOptions
        {
            BatchesPerEpoch = trainLoader.BatchCount, Network = network, InputShape = model.Identity.InputShape,
        });
        using var pruningLease = pruningCallback as IDisposable;
        var callbacks = pruningCallback is null ? extraCallbacks : [pruningCallback, .. extraCallbacks ?? []];
        // slim's regulariser joins the loss for the whole run.
        var lossHooks = (pruningCallback as ILossHookSource)?.LossHooks;
        var trainer = trainers.Create(new TrainingRunSpec(network, trainLoader, valLoader, folders.LogDir, folders.CheckpointDir,
            o.Epochs, o.LearningRate, LossHooks: lossHooks is { Count: > 0 } ? lossHooks : null), callbacks);
        var result = trainer.Run(resume);
        if (targets is not null) FinishPruning(pruning, targets, model, folders, result);
        RunReport.Write(folders, result, _logger);
        return result;
    }

    /// <summary>The file name of the sparse export a pruning run writes beside its checkpoints.</summary>
    public const string SparseWeightsFileName = "sparse.weights";

    private (IReadOnlyList<(torch.nn.Module Module, string Name)>?, TrainerCallback?) CreatePruning(PruningConfig pruning, torch.nn.Module network,
        ImportanceOptions training)
    {
        if (!pruning.Enabled) return (null, null);
        try
        {
            var targets = pruning.Targets(network);
            var callback = pruning.CreateCallback(targets, loggers.CreateLogger("Trainer.Pruning"), training);
            _logger.LogInformation("Pruning {Kind} ({Pruner}) of {Count} layer(s): {Layers}.", pruning.Kind, pruning.Pruner, targets.Count,
                string.Join(", ", targets.Select(t => t.Module.GetName())));
            return (targets, callback);
        }
        catch (ArgumentException e)
        {
            throw new JobException($"Trainer:Pruning does not fit the model: {e.Message}");
        }
    }

    /// <summary>Reports the sparsity reached and, with MakePermanent, writes the sparse export of the final model.</summary>
    private void FinishPruning(PruningConfig pruning, IReadOnlyList<(torch.nn.Module Module, string Name)> targets, LoadedModel model,
        RunFolders folders, TrainResult result)
    {
        var network = model.Network;
        var sparsity = PruningConfig.Sparsity(targets);
        _logger.LogInformation("Pruned layers' sparsity at the end of training: {Sparsity:0.0000}.", sparsity);
        if (!pruning.MakePermanent) return;
        PruningConfig.MakeTargetsPermanent(targets);
        var path = Path.Combine(folders.CheckpointDir, SparseWeightsFileName);
        var summary = SparseWeightsFile.Save(path, network, result.Metrics);
        _logger.LogInformation("Sparse export '{Path}': {Bytes:N0} bytes, {Ratio:0.000} of the {Dense:N0} bytes of its tensors stored densely " +
                               "(load it with Model:Checkpoint).", path, summary.FileBytes, (double)summary.FileBytes / summary.DenseBytes, summary.DenseBytes);
        if (pruning.Pruner == "level") return;
        // Channels pruned whole are removed for real; the result is a compression manifest (Model:Manifest).
        var folder = Path.Combine(folders.CheckpointDir, ShrunkFolderName);
        var score = result.Metrics.GetValueOrDefault("val/" + tasks.Task.Score.Name, double.NaN);
        var manifest = PrunedChannelShrink.ShrinkAndSave(network, model.Identity, targets, Path.Combine(folder, "manifest.json"),
            Path.Combine(folder, "shrunk.weights"), score, _logger);
        if (manifest is null) _logger.LogInformation("No channel was pruned whole; nothing to shrink.");
        else _logger.LogInformation("Shrunk model '{Manifest}': MACs {Before:N0} → {After:N0}, params {PBefore:N0} → {PAfter:N0} (load it with Model:Manifest).",
            Path.Combine(folder, "manifest.json"), manifest.Original.Macs, manifest.Current.Macs, manifest.Original.Params, manifest.Current.Params);
    }

    /// <summary>The folder, beside the checkpoints, of the shrunk model a channel-pruning run writes.</summary>
    public const string ShrunkFolderName = "shrunk";

    /// <summary>True when the run's training stage has a "last" checkpoint (or something in its place, which the trainer then names).</summary>
    private static bool HasCheckpoint(RunFolders folders)
    {
        var last = Path.Combine(folders.CheckpointDir, "last.ckpt");
        return File.Exists(last) || Directory.Exists(last);
    }
}
