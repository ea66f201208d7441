using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Benchmarks.PrunerComparison;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

// Trains (or loads) the catalog's Fashion CNN, prunes a copy with each pruner to the MACs target and reports test accuracy
// before and after a finetune epoch, MACs (level: weight sparsity) and batch-1 latency timed alternately with the original.
Options options;
try { options = Options.Parse(args); }
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

torch.set_num_threads(options.Threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggers.CreateLogger("PrunerComparison");
using var data = FashionMnist.Load(options.DataDir, logger);
var entry = ModelCatalog.Get("fashion-cnn");
var shape = entry.DefaultInputShape;
var training = new BenchTraining(data, options.Subset, logger);

torch.manual_seed(Options.Seed);
var reference = entry.Create();
if (options.Checkpoint is { } checkpoint) CheckpointFile.LoadWeights(checkpoint, reference);
else
{
    training.Train(reference, options.Epochs, Options.LearningRate);
    // Later runs can take these weights with --checkpoint.
    var saved = Path.Combine(Path.GetTempPath(), $"pruner-comparison-fashion-cnn-{options.Epochs}ep-subset{options.Subset:0.###}.weights");
    CheckpointFile.SaveWeights(saved, reference);
    logger.LogInformation("Trained weights saved to {Path}", saved);
}
var originalCost = new ModelEditor(reference, shape).Cost;
var originalAccuracy = training.TestAccuracy(reference);
logger.LogInformation("Original: {Macs:N0} MACs, test accuracy {Accuracy:0.0000}", originalCost.Macs, originalAccuracy);
var timer = new ModelMeasurer(shape, _ => 0);

var rows = new List<Row>();
foreach (var name in options.Pruners)
{
    torch.manual_seed(Options.Seed);
    var model = entry.Create();
    model.load_state_dict(reference.state_dict());
    var copy = ModelCopy.Create(entry.Create, shape, [], model);
    var editor = new ModelEditor(model, shape, new ShrinkOptions { RoundTo = 1 }, copy, training.Calibration, logger);
    var (settings, description) = PrunerSetup.Settings(name, editor, options);
    var clock = Stopwatch.StartNew();
    var result = PrunerSetup.Create(name).Compress(new CompressionRequest
    {
        Model = model,
        ExampleInputShape = shape,
        TrainingData = training.Calibration,
        TargetFlopsRatio = options.Target,
        Settings = settings,
        Editor = editor,
        EvaluateScore = training.TestAccuracy,
        Train = t => training.Run(model, t),
        Logger = logger,
    });
    var seconds = clock.Elapsed.TotalSeconds;
    var pruned = result.Model;
    var before = training.TestAccuracy(pruned);
    // Level's zeros, before finetuning (the finetuning here holds no mask, so some regrow).
    double? sparsity = name == "level" ? ZeroFraction(pruned) : null;
    var ms = timer.BatchOneMs([reference, pruned]);
    training.Train(pruned, options.FinetuneEpochs, options.FinetuneLr);
    var after = training.TestAccuracy(pruned);
    var cost = editor.Cost;
    rows.Add(new Row(name, description, cost.Macs, (double)cost.Macs / originalCost.Macs, sparsity, name == "level" ? ZeroFraction(pruned) : null,
        cost.Params, before, after, ms[1], ms[0], seconds));
    logger.LogInformation("{Pruner}: {Summary} acc {Before:0.0000} -> {After:0.0000} after finetuning", name, result.Summary, before, after);
    logger.LogInformation("row {Row}", JsonSerializer.Serialize(rows[^1]));
    copy.Dispose();
}

Console.WriteLine();
Console.WriteLine($"Fashion CNN, target {options.Target:0.##} of {originalCost.Macs:N0} MACs, original test accuracy {originalAccuracy:P2}, " +
                  $"finetune {options.FinetuneEpochs} epoch(s) at lr {options.FinetuneLr}, training subset {options.Subset:0.###}");
Console.WriteLine("| pruner | config | MACs % | weight sparsity | params | acc before ft | acc after ft | batch-1 ms (original ms) | prune s |");
Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
foreach (var r in rows)
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {r.Pruner} | {r.Config} | {(r.Sparsity is null ? $"{100 * r.MacsRatio:0.0} %" : "100 % (unstructured)")} | " +
        $"{(r.Sparsity is { } s ? $"{100 * s:0.0} % ({100 * r.SparsityAfterFinetune:0.0} % after ft)" : "")} | {r.Params:N0} | {100 * r.AccuracyBefore:0.00} % | {100 * r.AccuracyAfter:0.00} % | " +
        $"{r.LatencyMs:0.000} ({r.OriginalLatencyMs:0.000}) | {r.PruneSeconds:0.0} |"));
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "PrunerComparison", target = options.Target, original_macs = originalCost.Macs, original_accuracy = originalAccuracy,
    finetune_epochs = options.FinetuneEpochs, subset = options.Subset, training_steps = options.TrainingSteps, slim_epochs = options.SlimEpochs, rows,
}));
return 0;

// Fraction of the Conv2d/Linear weights that are exactly zero (the classifier fc2, which the config list excludes, included).
static double ZeroFraction(nn.Module<Tensor, Tensor> model)
{
    long zeros = 0, total = 0;
    foreach (var (_, module) in model.named_modules())
        if (module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear)
        {
            var w = module.named_parameters(recurse: false).First(p => p.name == "weight").parameter;
            zeros += w.numel() - w.count_nonzero().item<long>();
            total += w.numel();
        }
    return (double)zeros / total;
}

/// <summary>One pruner's figures.</summary>
internal sealed record Row(string Pruner, string Config, long Macs, double MacsRatio, double? Sparsity, double? SparsityAfterFinetune, long Params,
    double AccuracyBefore, double AccuracyAfter, double LatencyMs, double OriginalLatencyMs, double PruneSeconds);
