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

/// <summary>`trainer train`: trains the Fashion-MNIST CNN on the real data set as configured.</summary>
public sealed class TrainJob(IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Train");

    /// <summary>Runs the job and returns what the trainer reported; <paramref name="extraCallbacks"/> run after the job's own.</summary>
    public TrainResult Run(IEnumerable<TrainerCallback>? extraCallbacks = null)
    {
        var o = trainerOptions.Value;
        var folders = RunFolders.Resolve(o);
        if (o.Threads > 0) torch.set_num_threads(o.Threads);
        var device = torch.device(o.Device);

        using var data = FashionMnist.Load(dataOptions.Value.Path, loggers.CreateLogger("Trainer.Data"));
        using var trainLoader = data.TrainLoader(o.BatchSize, o.Seed, dataOptions.Value.SubsetRatio);
        using var valLoader = data.TestLoader(o.EvalBatchSize);

        // Seed right before building the network: the same seed gives PyTorch's initial weights.
        torch.manual_seed(o.Seed);
        var network = new FashionCnn();
        var optimizer = OptimizerFactory.Create(new OptimizerOptions
        {
            Name = o.Optimizer, LearningRate = o.LearningRate, Momentum = o.Momentum,
            WeightDecay = o.WeightDecay, Nesterov = o.Nesterov,
        }, network.parameters());
        var schedule = new ScheduleOptions
        {
            Name = o.Scheduler, StepSize = o.StepSize, Gamma = o.Gamma, Patience = o.Patience, MinLr = o.MinLr,
        }.Create(optimizer, o.Epochs);

        var callbacks = new List<TrainerCallback>
        {
            new ProgressCallback(loggers.CreateLogger("Trainer.Progress"), trainLoader.BatchCount),
            new TensorBoardCallback(torch.utils.tensorboard.SummaryWriter(folders.LogDir),
                new TensorBoardOptions { LogEveryNSteps = o.LogEveryNSteps, WeightHistograms = o.WeightHistograms }),
        };
        callbacks.AddRange(extraCallbacks ?? []);
        if (o.EarlyStopping.Patience > 0)
            callbacks.Add(new EarlyStopping(new EarlyStoppingOptions(o.EarlyStopping.Monitor, ParseMode(o.EarlyStopping.Mode),
                o.EarlyStopping.Patience, o.EarlyStopping.MinDelta), loggers.CreateLogger("Trainer.EarlyStopping")));

        _logger.LogInformation("Run '{Run}': {Train} training and {Val} validation samples, {Epochs} epoch(s), device {Device}; " +
                               "TensorBoard logs in '{LogDir}', checkpoints in '{CheckpointDir}'.",
            folders.RunName, trainLoader.SampleCount, valLoader.SampleCount, o.Epochs, o.Device, folders.LogDir, folders.CheckpointDir);

        var trainer = new ClassificationTrainer(new TrainerSetup
        {
            Network = network,
            TrainLoader = trainLoader,
            ValLoader = valLoader,
            Optimizer = optimizer,
            Scheduler = schedule,
            Device = device,
            Settings = new TrainerSettings
            {
                Epochs = o.Epochs, MaxSteps = o.MaxSteps, StopLr = o.StopLr, GradientClipNorm = o.GradientClipNorm,
                MonitorMetric = o.MonitorMetric, MonitorMode = ParseMode(o.MonitorMode),
            },
            Callbacks = callbacks,
            CheckpointDir = folders.CheckpointDir,
            Logger = loggers.CreateLogger("Trainer.Loop"),
        });
        var result = trainer.Run(o.Resume);
        RunReport.Write(folders, result, _logger);
        return result;
    }

    private static MetricMode ParseMode(string mode) => mode.Equals("max", StringComparison.OrdinalIgnoreCase) ? MetricMode.Max : MetricMode.Min;
}
