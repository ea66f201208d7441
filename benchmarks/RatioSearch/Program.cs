using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Benchmarks.RatioSearch;
using Microsoft.Extensions.Logging;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Search;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

// Trains the Fashion CNN on the first 55 000 training images (or loads --checkpoint), then searches per-group keep ratios
// at --target of the MACs with AMC's agent, the genetic algorithm, simulated annealing and NetAdapt (--methods), each
// trial scored on held-out training images (never the test set), and reports the test accuracy of each best policy's
// L1-pruned model before any finetuning (NetAdapt's candidates are finetuned briefly while it searches; its row is its
// policy applied to the trained model, as the others').
// Usage: ratio-search [--target 0.3] [--episodes 120] [--warmup 30] [--population 12] [--generations 10]
//        [--held-out 2000] [--epochs 1] [--seed 0] [--checkpoint FILE] [--save-dir DIR] [--threads 2]
//        [--methods amc,genetic,annealing,netadapt] [--netadapt-step 0.05] [--finetune-steps 20] [--finetune-lr 0.01]
var o = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(x => x.a[2..], x => x.i + 1 < args.Length ? args[x.i + 1] : "");
string Opt(string key, string fallback) => o.TryGetValue(key, out var v) ? v : fallback;
var c = CultureInfo.InvariantCulture;
double target = double.Parse(Opt("target", "0.3"), c);
int episodes = int.Parse(Opt("episodes", "120"), c), warmup = int.Parse(Opt("warmup", "30"), c);
int population = int.Parse(Opt("population", "12"), c), generations = int.Parse(Opt("generations", "10"), c);
int heldOutCount = int.Parse(Opt("held-out", "2000"), c), epochs = int.Parse(Opt("epochs", "1"), c), seed = int.Parse(Opt("seed", "0"), c);
torch.set_num_threads(int.Parse(Opt("threads", "2"), c));
var methods = Opt("methods", "amc,genetic,annealing,netadapt").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
double netAdaptStep = double.Parse(Opt("netadapt-step", "0.05"), c), finetuneLr = double.Parse(Opt("finetune-lr", "0.01"), c);
int finetuneSteps = int.Parse(Opt("finetune-steps", "20"), c);

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(s => s.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var logger = loggers.CreateLogger("RatioSearch");
using var data = FashionMnist.Load(FashionMnist.DefaultDirectory, logger);
long trainCount = data.TrainCount - 5000;
using var trainLoader = new TensorBatchLoader(data.TrainImages.narrow(0, 0, trainCount), data.TrainLabels.narrow(0, 0, trainCount), 64,
    shuffle: true, seed, inputTransform: FashionMnist.Normalize);
using var heldOut = new TensorBatchLoader(data.TrainImages.narrow(0, trainCount, heldOutCount), data.TrainLabels.narrow(0, trainCount, heldOutCount),
    50, shuffle: false, inputTransform: FashionMnist.Normalize);
using var test = data.TestLoader(50);

torch.manual_seed(seed);
var model = new FashionCnn();
if (o.TryGetValue("checkpoint", out var checkpoint) && File.Exists(checkpoint)) CheckpointFile.LoadWeights(checkpoint, model);
else
{
    new ClassificationTrainer(new TrainerSetup
    {
        Network = model, TrainLoader = trainLoader, ValLoader = test, Logger = logger,
        Optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = 0.01, Momentum = 0.9 }, model.parameters()),
        Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "val/accuracy", MonitorMode = MetricMode.Max },
    }).Run();
    if (checkpoint is { Length: > 0 }) CheckpointFile.SaveWeights(checkpoint, model);
}
model.eval();
// Which conv kernels the search runs with (the process default after the start-up self-test; a training run restores it).
logger.LogInformation("Search kernels: oneDNN {OneDnn} ({Status})", Trainer.Core.Runtime.ConvKernels.UsesOneDnn, Trainer.Core.Runtime.ConvKernels.Status);
long[] shape = [1, 1, 28, 28];
var space = PolicySpace.Build(model, ModelGraph.Build(model, shape), target, floor: 0.2, roundTo: 1);
using var task = new HeldOutTask();
var scorer = new TaskPolicyScorer(task, () => new FashionCnn(), model, shape, heldOut);
// Test accuracy of a policy: the same L1 pruning as the scorer, on the test set (reported only, never searched on).
var testScorer = new TaskPolicyScorer(task, () => new FashionCnn(), model, shape, test);
double unprunedTest = ClassificationAccuracy.Of(model, test);

var rows = new List<(string Method, RatioPolicy Policy, double Test, int Trials, double Seconds)>();
var clock = Stopwatch.StartNew();
var uniformKept = space.Uniform();
var uniformScore = scorer.Score(space.ById(uniformKept)).Score;
rows.Add(("uniform", Policy("uniform", uniformKept, uniformScore), testScorer.Score(space.ById(uniformKept)).Score, 1, clock.Elapsed.TotalSeconds));
var results = new Dictionary<string, SearchResult>();
void Search(string method, Func<SearchResult> run)
{
    if (!methods.Contains(method)) return;
    clock.Restart();
    var result = run();
    results[method] = result;
    rows.Add((method, result.Best, testScorer.Score(result.Best.KeptChannels).Score, result.History.Count, clock.Elapsed.TotalSeconds));
}
Search("amc", () => AmcSearch.Run(space, scorer, new DdpgOptions { Episodes = episodes, WarmupEpisodes = warmup, Seed = seed }, logger));
Search("genetic", () => GeneticSearch.Run(space, scorer, new GeneticOptions { PopulationSize = population, Generations = generations, Seed = seed }, logger));
Search("annealing", () => SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { Seed = seed }, logger));
Search("netadapt", () =>
{
    using var finetuner = new FinetuningPolicyScorer(task, () => new FashionCnn(), model, shape, trainLoader, heldOut,
        new ShortTrainingOptions { Steps = finetuneSteps, LearningRate = finetuneLr, Seed = seed });
    return NetAdaptSearch.Run(space, finetuner, new NetAdaptOptions { StepRatio = netAdaptStep }, finetuner.Adopt, logger);
});
if (o.TryGetValue("save-dir", out var saveDir))
    foreach (var (method, result) in results) result.Save(Path.Combine(saveDir, method + ".json"));

Console.WriteLine();
Console.WriteLine(string.Create(c, $"Fashion CNN at {target:0.###} of the MACs (floor 0.2), L1-pruned, no finetuning; held-out {heldOutCount} training images; unpruned test accuracy {unprunedTest:P2}; oneDNN {Trainer.Core.Runtime.ConvKernels.UsesOneDnn}"));
Console.WriteLine($"| {"method",-8} | {"MACs %",7} | {"held-out acc",12} | {"test acc",8} | {"trials",6} | {"search s",8} | kept (conv1,conv2,conv3,fc1)");
Console.WriteLine($"|{new string('-', 10)}|{new string('-', 9)}|{new string('-', 14)}|{new string('-', 10)}|{new string('-', 8)}|{new string('-', 10)}|{new string('-', 30)}");
foreach (var r in rows)
    Console.WriteLine(string.Create(c, $"| {r.Method,-8} | {r.Policy.MacsRatio,7:P1} | {r.Policy.Score,12:P2} | {r.Test,8:P2} | {r.Trials,6} | {r.Seconds,8:0.0} | {string.Join(",", r.Policy.Groups.Select(g => g.Kept))}"));
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "ratio-search", target, seed, net_adapt_step = netAdaptStep, finetune_steps = finetuneSteps, finetune_lr = finetuneLr, onednn = Trainer.Core.Runtime.ConvKernels.UsesOneDnn, episodes, warmup, population, generations, held_out = heldOutCount,
    unpruned_test_accuracy = Math.Round(unprunedTest, 4),
    methods = rows.Select(r => new
    {
        method = r.Method, macs_ratio = Math.Round(r.Policy.MacsRatio, 4), held_out_accuracy = Math.Round(r.Policy.Score, 4),
        test_accuracy_before_finetune = Math.Round(r.Test, 4), trials = r.Trials, search_seconds = Math.Round(r.Seconds, 1),
        kept = r.Policy.KeptChannels,
    }),
}));
return 0;

RatioPolicy Policy(string method, int[] kept, double score) =>
    new(method, space.Groups.Select((g, i) => new GroupKeep(g.Id, g.Channels, kept[i])).ToList(), space.MacsOf(kept), space.FullMacs,
        space.Budget, score, score);
