using Examples.FashionMnist;
using Microsoft.Extensions.Logging;
using Trainer.Core.Callbacks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

// Usage: dotnet run --project examples/FashionMnist -- [epochs=1] [subset ratio=0.25] [data folder]
var epochs = args.Length > 0 ? int.Parse(args[0]) : 1;
var subset = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 0.25;
var dataDir = args.Length > 2 ? args[2] : FashionMnist.DefaultDirectory;

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
var logger = loggers.CreateLogger("FashionMnistExample");

using var data = FashionMnist.Load(dataDir, logger);
using var train = data.TrainLoader(batchSize: 64, seed: 0, subsetRatio: subset);
using var val = data.TestLoader(batchSize: 256);

torch.manual_seed(0);
var network = new FashionCnn();
var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "adamw", LearningRate = 1e-3, WeightDecay = 1e-4 }, network.parameters());

var trainer = new SmoothedClassificationTrainer(new TrainerSetup
{
    Network = network,
    TrainLoader = train,
    ValLoader = val,
    Optimizer = optimizer,
    Scheduler = new CosineLrSchedule(optimizer, periodEpochs: epochs, minLr: 1e-5),
    Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "val/accuracy", MonitorMode = MetricMode.Max },
    Callbacks = [new ProgressCallback(logger, train.BatchCount)],
    CheckpointDir = Path.Combine("checkpoints", "example-" + DateTime.Now.ToString("yyyyMMdd-HHmmss")),
    Logger = logger,
});
var result = trainer.Run();
logger.LogInformation("Validation accuracy {Accuracy:0.0000} after {Epochs} epoch(s); {Reason}.",
    result.Metrics["val/accuracy"], result.EpochsCompleted, result.StopReason);
