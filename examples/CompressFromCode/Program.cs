// Train the Fashion-MNIST CNN for one epoch on a tenth of the data, prune it to half its MACs with the channel-pruning
// plugin and finetune it with the task's own trainer, export its inference form, then quantize it to int8 with the
// observer plugin: the whole pipeline as library calls. The output folder is the first argument (default "from-code").
using Microsoft.Extensions.Logging;
using Plugins.ChannelPruning;
using Trainer.Plugins.Quantizers;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Quantization;
using Trainer.Core.Tasks;
using Trainer.Core.Training;

var root = args.Length > 0 ? args[0] : "from-code";
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
using var task = new FashionMnistTask();
task.Configure(TaskContext.Empty with { Logger = loggers.CreateLogger("Task") });
var recipe = new TrainerRecipe();   // SGD 0.01 momentum 0.9; the monitor is the task's score
var model = LoadedModel.Of("fashion-cnn", () => new FashionCnn(), task.ExampleInputShape);
recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(64, seed: 0, subsetRatio: 0.1), task.ValidationLoader(256),
    $"{root}/runs/train", $"{root}/checkpoints/train", Epochs: 1, LearningRate: 0.01), loggers).Run();

var compressed = new CompressionSession(task, new ChannelPruningCompressor(),
        new CompressionSessionOptions { TargetFlopsRatio = 0.5, Settings = new Dictionary<string, string> { ["method"] = "l1" } }, recipe, loggers)
    .Run(model, new CompressionRun($"{root}/checkpoints/compress", $"{root}/runs/compress", SubsetRatio: 0.1));
var exported = new InferenceExport(loggers.CreateLogger("Export"))
    .Export(model with { Network = compressed.Model, Manifest = compressed.Manifest }, $"{root}/checkpoints/export", $"{root}/latency-cache");
var quantized = new TaskQuantization(task, new ObserverQuantizer(), new TaskQuantizationOptions(), recipe, loggers)
    .Run(model with { Network = CompressedModel.Load(exported.ManifestPath, model.Create, out var manifest), Manifest = manifest },
        new QuantizationRun($"{root}/checkpoints/quantize", $"{root}/runs/quantize", SubsetRatio: 0.1));

var (before, after) = (compressed.Manifest.Original, compressed.Manifest.Current);
Console.WriteLine($"compressed: {(double)after.Macs / before.Macs:0.000} of the MACs, {task.Score.Format(before.Score)} -> " +
                  $"{task.Score.Format(after.Score)} ({compressed.StopReason})");
Console.WriteLine($"exported: {exported.FoldedBatchNorms} BatchNorm(s) folded, {exported.Speedup:0.00}x at batch 1, '{exported.ManifestPath}'");
Console.WriteLine($"quantized: {task.Score.Format(quantized.QuantizedScore)} at {quantized.SizeRatio:0.000} of the float size, '{quantized.ExportPath}'");
