// Train the Fashion-MNIST CNN for one epoch on a tenth of the data, then prune it to half its MACs with the
// channel-pruning plugin and finetune it with the task's own trainer: the compress loop as library calls.
using Microsoft.Extensions.Logging;
using Plugins.ChannelPruning;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
using var task = new FashionMnistTask();
task.Configure(TaskContext.Empty with { DataPath = args.Length > 0 ? args[0] : "", Logger = loggers.CreateLogger("Task") });
var recipe = new TrainerRecipe();   // SGD 0.01 momentum 0.9; the monitor is the task's score
var model = LoadedModel.Of("fashion-cnn", () => new FashionCnn(), task.ExampleInputShape);
recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(64, seed: 0, subsetRatio: 0.1), task.ValidationLoader(256),
    "runs/from-code/train", "checkpoints/from-code/train", Epochs: 1, LearningRate: 0.01), loggers).Run();

var session = new CompressionSession(task, new ChannelPruningCompressor(),
    new CompressionSessionOptions { TargetFlopsRatio = 0.5, Settings = new Dictionary<string, string> { ["method"] = "l1" } }, recipe, loggers);
var outcome = session.Run(model, new CompressionRun("checkpoints/from-code/compress", "runs/from-code/compress", SubsetRatio: 0.1));
var (before, after) = (outcome.Manifest.Original, outcome.Manifest.Current);
Console.WriteLine($"{(double)after.Macs / before.Macs:0.000} of the MACs, {task.Score.Format(before.Score)} -> {task.Score.Format(after.Score)} " +
                  $"({outcome.StopReason}); reload with CompressedModel.Load(\"{outcome.ManifestPath}\", ...)");
