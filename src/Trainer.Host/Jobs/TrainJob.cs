using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
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

        var trainer = trainers.Create(new TrainingRunSpec(network, trainLoader, valLoader, folders.LogDir, folders.CheckpointDir,
            o.Epochs, o.LearningRate), extraCallbacks);
        var result = trainer.Run(resume);
        RunReport.Write(folders, result, _logger);
        return result;
    }

    /// <summary>True when the run's training stage has a "last" checkpoint (or something in its place, which the trainer then names).</summary>
    private static bool HasCheckpoint(RunFolders folders)
    {
        var last = Path.Combine(folders.CheckpointDir, "last.ckpt");
        return File.Exists(last) || Directory.Exists(last);
    }
}
