using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Optimization;
using Trainer.Core.Tasks;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>What one training run (training, or finetuning after a compress step) trains, on what, and where it writes.</summary>
/// <param name="Network">The network to train (it takes the loaders' inputs).</param>
/// <param name="TrainLoader">Training batches.</param>
/// <param name="ValLoader">Validation batches.</param>
/// <param name="LogDir">TensorBoard folder of this run.</param>
/// <param name="CheckpointDir">Checkpoint folder of this run.</param>
/// <param name="Epochs">Epochs to train.</param>
/// <param name="LearningRate">Initial learning rate.</param>
/// <param name="Teacher">When set, the run distils from this network (<see cref="DistillationLossHook"/> on the task's trainer).</param>
/// <param name="Distillation">Distillation settings used with <paramref name="Teacher"/>.</param>
/// <param name="MaxSteps">Optimizer steps after which the run stops, mid-epoch if need be (0 = the recipe's MaxSteps).</param>
/// <param name="LossHooks">Loss terms added after the trainer's own (and after distillation), e.g. a compressor's regulariser.</param>
public sealed record TrainingRunSpec(
    torch.nn.Module<torch.Tensor, torch.Tensor> Network, IBatchLoader TrainLoader, IBatchLoader ValLoader,
    string LogDir, string CheckpointDir, int Epochs, double LearningRate,
    torch.nn.Module<torch.Tensor, torch.Tensor>? Teacher = null, DistillationOptions? Distillation = null,
    int MaxSteps = 0, IReadOnlyList<ILossHook>? LossHooks = null);

/// <summary>
/// How every training run of a job is built (optimizer, schedule, loop settings, early stopping, TensorBoard, progress),
/// so that training and the finetuning after each compress step train the same way, with the task's own trainer.
/// </summary>
public sealed record TrainerRecipe
{
    /// <summary>The optimizer; its learning rate is replaced by each run's.</summary>
    public OptimizerOptions Optimizer { get; init; } = new();

    /// <summary>The learning-rate schedule.</summary>
    public ScheduleOptions Schedule { get; init; } = new();

    /// <summary>Loop settings; <see cref="TrainerSettings.Epochs"/> is replaced by each run's. An empty
    /// <see cref="TrainerSettings.MonitorMetric"/> means the task's score ("val/&lt;score&gt;") in its direction.</summary>
    public TrainerSettings Settings { get; init; } = new() { MonitorMetric = "" };

    /// <summary>Early stopping, or null for none.</summary>
    public EarlyStoppingOptions? EarlyStopping { get; init; }

    /// <summary>TensorBoard detail.</summary>
    public TensorBoardOptions TensorBoard { get; init; } = new();

    /// <summary>Device the network and batches run on ("cpu", "cuda", "cuda:1").</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>The task's trainer for <paramref name="spec"/>; <paramref name="extraCallbacks"/> run after the standard ones
    /// (progress, TensorBoard, early stopping).</summary>
    public BaseTrainer Create(TrainingTask task, TrainingRunSpec spec, ILoggerFactory loggers, IEnumerable<TrainerCallback>? extraCallbacks = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(loggers);
        var optimizer = OptimizerFactory.Create(Optimizer with { LearningRate = spec.LearningRate }, spec.Network.parameters());
        var callbacks = new List<TrainerCallback>
        {
            new ProgressCallback(loggers.CreateLogger("Trainer.Progress"), spec.TrainLoader.BatchCount),
            // The writer is made on first use: a resume that fails on its checkpoint leaves no new event file behind.
            TensorBoardCallback.Deferred(() => torch.utils.tensorboard.SummaryWriter(spec.LogDir), TensorBoard),
        };
        callbacks.AddRange(extraCallbacks ?? []);
        if (EarlyStopping is { Patience: > 0 } early) callbacks.Add(new EarlyStopping(early, loggers.CreateLogger("Trainer.EarlyStopping")));

        var monitored = Settings.MonitorMetric.Length > 0;
        return task.CreateTrainer(new TrainerSetup
        {
            Network = spec.Network,
            TrainLoader = spec.TrainLoader,
            ValLoader = spec.ValLoader,
            Optimizer = optimizer,
            Scheduler = Schedule.Create(optimizer, spec.Epochs),
            Device = torch.device(Device),
            Settings = Settings with
            {
                Epochs = spec.Epochs,
                MaxSteps = spec.MaxSteps > 0 ? spec.MaxSteps : Settings.MaxSteps,
                MonitorMetric = monitored ? Settings.MonitorMetric : "val/" + task.Score.Name,
                MonitorMode = monitored ? Settings.MonitorMode : task.Score.HigherIsBetter ? MetricMode.Max : MetricMode.Min,
            },
            LossHooks = [.. spec.Teacher is null ? [] : new ILossHook[] { new DistillationLossHook(spec.Teacher, spec.Distillation ?? new DistillationOptions()) },
                .. spec.LossHooks ?? []],
            Callbacks = callbacks,
            CheckpointDir = spec.CheckpointDir,
            Logger = loggers.CreateLogger("Trainer.Loop"),
        });
    }
}
