using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Benchmarks.LowRankFashion;
using Microsoft.Extensions.Logging;
using Plugins.LowRank;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

// Usage: dotnet run -c Release --project benchmarks/LowRankFashion -- [--epochs 2] [--target 0.5] [--methods svd,nonlinear]
//        [--checkpoint FILE | --save-dir DIR] [--finetune-epochs 1] [--finetune-lr 1e-4] [--batch-size 128] [--seed 0]
//        [--train-subset 1] [--threads 0] [--data DIR]
// Trains the Fashion CNN (or loads it), decomposes its convs at the MAC target with each fit method, and reports test
// accuracy before and after the finetune, as a table and one JSON line.
var options = BenchOptions.Parse(args);
if (options.Threads > 0) set_num_threads(options.Threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggers.CreateLogger("LowRankFashion");
long[] inputShape = [1, 1, FashionMnist.ImageSize, FashionMnist.ImageSize];

using var data = FashionMnist.Load(options.DataDir, logger);
using var train = data.TrainLoader(options.BatchSize, seed: options.Seed, subsetRatio: options.TrainSubset);
using var test = data.TestLoader(batchSize: 500);

manual_seed(options.Seed);
var baseline = new FashionCnn();
var clock = Stopwatch.StartNew();
if (options.Checkpoint is { } checkpoint) CheckpointFile.LoadWeights(checkpoint, baseline);
else Train(baseline, options.Epochs, 1e-3, cosine: true, options.SaveDir);
var trainSeconds = clock.Elapsed.TotalSeconds;
var baseAccuracy = TestAccuracy(baseline);
var baseCost = Cost(new ModelEditor(baseline, inputShape));
Console.WriteLine($"baseline: test accuracy {baseAccuracy:P2} ({(options.Checkpoint is null ? $"trained {options.Epochs} epochs in {trainSeconds:F0} s" : "loaded")}), " +
                  $"conv MACs {baseCost.ConvMacs:N0}, model MACs {baseCost.Macs:N0}, params {baseCost.Params:N0}");

var rows = new List<Row> { new("baseline", baseCost.ConvMacs, baseCost.Macs, baseCost.Params, baseAccuracy, baseAccuracy, 0, "") };
// Control: the same finetune on the undecomposed model, so the extra epoch is not credited to the decomposition.
using (var control = ModelCopy.Create(() => new FashionCnn(), inputShape, [], baseline))
{
    Train(control, options.FinetuneEpochs, options.FinetuneLr, cosine: false, saveDir: null);
    rows.Add(new Row("baseline-ft", baseCost.ConvMacs, baseCost.Macs, baseCost.Params, baseAccuracy, TestAccuracy(control), 0, ""));
}
foreach (var method in options.Methods)
{
    using var model = ModelCopy.Create(() => new FashionCnn(), inputShape, [], baseline);
    using var reference = ModelCopy.Create(() => new FashionCnn(), inputShape, [], baseline);
    var editor = new ModelEditor(model, inputShape, referenceModel: reference, trainingData: train, logger: logger);
    var settings = new Dictionary<string, string> { ["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture) };
    if (method.StartsWith("nonlinear", StringComparison.Ordinal)) settings["nonlinear_case"] = "true";
    if (method.StartsWith("regression", StringComparison.Ordinal)) settings["asymmetric"] = "true";
    if (method.EndsWith("-uniform", StringComparison.Ordinal)) settings["rank_selection"] = "uniform";
    clock.Restart();
    var result = new LowRankCompressor().Compress(new CompressionRequest
    {
        Model = model,
        ExampleInputShape = inputShape,
        TrainingData = train,
        TargetFlopsRatio = options.Target,
        Settings = settings,
        Editor = editor,
        Logger = logger,
    });
    var compressSeconds = clock.Elapsed.TotalSeconds;
    Console.WriteLine($"{method}: {result.Summary} ({compressSeconds:F1} s)");
    foreach (var note in result.Layers) Console.WriteLine($"  {note.Layer}: {note.Note}");
    var accuracyBefore = TestAccuracy(result.Model);
    Train(result.Model, options.FinetuneEpochs, options.FinetuneLr, cosine: false, saveDir: null);
    var cost = Cost(editor);
    rows.Add(new Row(method, cost.ConvMacs, cost.Macs, cost.Params, accuracyBefore, TestAccuracy(result.Model), compressSeconds,
        string.Join(" ", result.Layers.Select(n => $"{n.Layer}:{RankOf(n.Note)}"))));
}

Console.WriteLine();
Console.WriteLine($"Fashion CNN, low-rank decomposition at {options.Target:P0} of the conv MACs, {options.FinetuneEpochs} finetune epoch(s) " +
                  $"(AdamW lr {options.FinetuneLr}); test accuracy on {data.TestCount} images");
Console.WriteLine($"{"method",-11} {"conv MACs",12} {"ratio",6} {"model MACs",12} {"params",10} {"acc (no ft)",11} {"acc (ft)",9} {"Δ vs base",9}  ranks");
foreach (var r in rows)
    Console.WriteLine($"{r.Method,-11} {r.ConvMacs,12:N0} {(double)r.ConvMacs / baseCost.ConvMacs,6:F3} {r.Macs,12:N0} {r.Params,10:N0} " +
                      $"{r.AccuracyBeforeFinetune,11:P2} {r.AccuracyAfterFinetune,9:P2} {100 * (r.AccuracyAfterFinetune - baseAccuracy),8:+0.00;-0.00}p  {r.Ranks}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "lowrank-fashion",
    target = options.Target,
    epochs = options.Checkpoint is null ? options.Epochs : (int?)null,
    finetune_epochs = options.FinetuneEpochs,
    baseline_accuracy = baseAccuracy,
    rows = rows.Select(r => new
    {
        method = r.Method, conv_macs = r.ConvMacs, conv_ratio = (double)r.ConvMacs / baseCost.ConvMacs, macs = r.Macs, @params = r.Params,
        accuracy_no_finetune = r.AccuracyBeforeFinetune, accuracy_finetuned = r.AccuracyAfterFinetune,
        delta_points = 100 * (r.AccuracyAfterFinetune - baseAccuracy), compress_seconds = r.CompressSeconds, ranks = r.Ranks,
    }),
}));

void Train(nn.Module<Tensor, Tensor> network, int epochs, double lr, bool cosine, string? saveDir)
{
    var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "adamw", LearningRate = lr, WeightDecay = 1e-4 }, network.parameters());
    new ClassificationTrainer(new TrainerSetup
    {
        Network = network,
        TrainLoader = train,
        Optimizer = optimizer,
        Scheduler = cosine ? new CosineLrSchedule(optimizer, periodEpochs: epochs, minLr: 1e-5) : null,
        Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "train/total_loss" },
        CheckpointDir = saveDir,
        Logger = logger,
    }).Run();
}

// A run of zero epochs only evaluates the eval loader: the trainer's own accuracy, no second evaluation loop.
double TestAccuracy(nn.Module<Tensor, Tensor> network)
{
    var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = 0 }, network.parameters());
    var result = new ClassificationTrainer(new TrainerSetup
    {
        Network = network,
        TrainLoader = train,
        EvalLoader = test,
        Optimizer = optimizer,
        Settings = new TrainerSettings { Epochs = 0 },
        Logger = logger,
    }).Run();
    return result.Metrics["test/accuracy"];
}

static (long ConvMacs, long Macs, long Params) Cost(IModelEditor editor) =>
    (editor.Layers.Where(l => l.Type == "Conv2d").Sum(l => l.Macs), editor.Cost.Macs, editor.Cost.Params);

static string RankOf(string note) =>
    note.Contains("rank ", StringComparison.Ordinal) ? note.Split("rank ", 2)[1].Split(' ', 2)[0] : "-";

/// <summary>One line of the table.</summary>
internal sealed record Row(string Method, long ConvMacs, long Macs, long Params, double AccuracyBeforeFinetune,
    double AccuracyAfterFinetune, double CompressSeconds, string Ranks);
