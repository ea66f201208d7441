using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Models;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>
/// Maps the "Trainer" section to Core's <see cref="TrainerRecipe"/> and builds the task's trainer with it, so the training
/// job and the pipeline's finetuning stages train the same way.
/// </summary>
public sealed class TrainerFactory(IOptions<TrainerOptions> trainerOptions, Tasks.TaskProvider tasks, ILoggerFactory loggers)
{
    /// <summary>The recipe the "Trainer" section describes.</summary>
    public TrainerRecipe Recipe
    {
        get
        {
            var o = trainerOptions.Value;
            return new TrainerRecipe
            {
                Optimizer = new OptimizerOptions
                {
                    Name = o.Optimizer, LearningRate = o.LearningRate, Momentum = o.Momentum, WeightDecay = o.WeightDecay, Nesterov = o.Nesterov,
                },
                Schedule = new ScheduleOptions { Name = o.Scheduler, StepSize = o.StepSize, Gamma = o.Gamma, Patience = o.Patience, MinLr = o.MinLr },
                Settings = new TrainerSettings
                {
                    MaxSteps = o.MaxSteps, StopLr = o.StopLr, GradientClipNorm = o.GradientClipNorm, MonitorMetric = o.MonitorMetric,
                    MonitorMode = ParseMode(o.MonitorMode),
                },
                EarlyStopping = o.EarlyStopping.Patience > 0
                    ? new EarlyStoppingOptions(o.EarlyStopping.Monitor, ParseMode(o.EarlyStopping.Mode), o.EarlyStopping.Patience, o.EarlyStopping.MinDelta)
                    : null,
                TensorBoard = new TensorBoardOptions { LogEveryNSteps = o.LogEveryNSteps, WeightHistograms = o.WeightHistograms },
                Device = o.Device,
            };
        }
    }

    /// <summary>Creates the task's trainer; <paramref name="extraCallbacks"/> run after the standard ones.</summary>
    public BaseTrainer Create(TrainingRunSpec spec, IEnumerable<TrainerCallback>? extraCallbacks = null) =>
        Recipe.Create(tasks.Task, spec, loggers, extraCallbacks);

    private static MetricMode ParseMode(string mode) => mode.Equals("max", StringComparison.OrdinalIgnoreCase) ? MetricMode.Max : MetricMode.Min;
}
