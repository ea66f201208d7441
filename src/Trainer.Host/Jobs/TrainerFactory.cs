using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>What one training run (a training job or a finetuning stage) trains, on what, and where it writes.</summary>
/// <param name="Network">The network to train (any classifier taking the loaders' inputs).</param>
/// <param name="TrainLoader">Training batches.</param>
/// <param name="ValLoader">Validation batches.</param>
/// <param name="LogDir">TensorBoard folder of this run.</param>
/// <param name="CheckpointDir">Checkpoint folder of this run.</param>
/// <param name="Epochs">Epochs to train.</param>
/// <param name="LearningRate">Initial learning rate.</param>
/// <param name="Teacher">When set, the run distils from this network (<see cref="DistillationLossHook"/> on the task's trainer).</param>
/// <param name="Distillation">Distillation settings used with <paramref name="Teacher"/>.</param>
public sealed record TrainingRunSpec(
    torch.nn.Module<torch.Tensor, torch.Tensor> Network, IBatchLoader TrainLoader, IBatchLoader ValLoader,
    string LogDir, string CheckpointDir, int Epochs, double LearningRate,
    torch.nn.Module<torch.Tensor, torch.Tensor>? Teacher = null, DistillationOptions? Distillation = null);

/// <summary>
/// Builds the task's trainer from the "Trainer" section (optimizer, schedule, stopping, callbacks) for any network,
/// so the training job and the pipeline's finetuning stages train the same way.
/// </summary>
public sealed class TrainerFactory(IOptions<TrainerOptions> trainerOptions, Tasks.TaskProvider tasks, ILoggerFactory loggers)
{
    /// <summary>Creates the task's trainer; <paramref name="extraCallbacks"/> run after the standard ones.</summary>
    public BaseTrainer Create(TrainingRunSpec spec, IEnumerable<TrainerCallback>? extraCallbacks = null)
    {
        var o = trainerOptions.Value;
        var task = tasks.Task;
        var optimizer = OptimizerFactory.Create(new OptimizerOptions
        {
            Name = o.Optimizer, LearningRate = spec.LearningRate, Momentum = o.Momentum,
            WeightDecay = o.WeightDecay, Nesterov = o.Nesterov,
        }, spec.Network.parameters());
        var schedule = new ScheduleOptions
        {
            Name = o.Scheduler, StepSize = o.StepSize, Gamma = o.Gamma, Patience = o.Patience, MinLr = o.MinLr,
        }.Create(optimizer, spec.Epochs);

        var callbacks = new List<TrainerCallback>
        {
            new ProgressCallback(loggers.CreateLogger("Trainer.Progress"), spec.TrainLoader.BatchCount),
            // The writer is made on first use: a resume that fails on its checkpoint leaves no new event file behind.
            TensorBoardCallback.Deferred(() => torch.utils.tensorboard.SummaryWriter(spec.LogDir),
                new TensorBoardOptions { LogEveryNSteps = o.LogEveryNSteps, WeightHistograms = o.WeightHistograms }),
        };
        callbacks.AddRange(extraCallbacks ?? []);
        if (o.EarlyStopping.Patience > 0)
            callbacks.Add(new EarlyStopping(new EarlyStoppingOptions(o.EarlyStopping.Monitor, ParseMode(o.EarlyStopping.Mode),
                o.EarlyStopping.Patience, o.EarlyStopping.MinDelta), loggers.CreateLogger("Trainer.EarlyStopping")));

        var setup = new TrainerSetup
        {
            Network = spec.Network,
            TrainLoader = spec.TrainLoader,
            ValLoader = spec.ValLoader,
            Optimizer = optimizer,
            Scheduler = schedule,
            Device = torch.device(o.Device),
            Settings = new TrainerSettings
            {
                Epochs = spec.Epochs, MaxSteps = o.MaxSteps, StopLr = o.StopLr, GradientClipNorm = o.GradientClipNorm,
                MonitorMetric = o.MonitorMetric.Length > 0 ? o.MonitorMetric : "val/" + task.Score.Name,
                MonitorMode = o.MonitorMode.Length > 0 ? ParseMode(o.MonitorMode) : task.Score.HigherIsBetter ? MetricMode.Max : MetricMode.Min,
            },
            LossHooks = spec.Teacher is null ? [] : [new DistillationLossHook(spec.Teacher, spec.Distillation ?? new DistillationOptions())],
            Callbacks = callbacks,
            CheckpointDir = spec.CheckpointDir,
            Logger = loggers.CreateLogger("Trainer.Loop"),
        };
        return task.CreateTrainer(setup);
    }

    private static MetricMode ParseMode(string mode) => mode.Equals("max", StringComparison.OrdinalIgnoreCase) ? MetricMode.Max : MetricMode.Min;
}
