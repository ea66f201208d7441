using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Benchmarks.AgpSparsity;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Pruning;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Training;
using TorchSharp;

// Dense training against AGP (Zhu and Gupta; NNI's schedule) to --final-sparsity unstructured sparsity on the Fashion-MNIST
// CNN, same seed, data order and epochs: test accuracy of both, the size of the sparse export (SparseWeightsFile) against
// the dense weights file, and the forward time of the sparse model run densely against the same weights in COO sparse mm.
// Usage: dotnet run -c Release --project benchmarks/AgpSparsity -- [--epochs 4] [--final-sparsity 0.9] [--start-epoch 1]
//        [--end-epoch 3] [--frequency 100] [--global] [--seed 0] [--lr 0.01] [--threads 2] [--rounds 30] [--subset 1] [--data dir]
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
var inv = CultureInfo.InvariantCulture;
var epochs = int.Parse(Arg("--epochs", "4"), inv);
var finalSparsity = double.Parse(Arg("--final-sparsity", "0.9"), inv);
var startEpoch = int.Parse(Arg("--start-epoch", "1"), inv);
var endEpoch = int.Parse(Arg("--end-epoch", "3"), inv);
var frequency = long.Parse(Arg("--frequency", "100"), inv);
var global = args.Contains("--global");
var seed = int.Parse(Arg("--seed", "0"), inv);
var lr = double.Parse(Arg("--lr", "0.01"), inv);
var rounds = int.Parse(Arg("--rounds", "30"), inv);
var subset = double.Parse(Arg("--subset", "1"), inv);
var threads = int.Parse(Arg("--threads", "2"), inv);
torch.set_num_threads(threads);

using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var logger = loggers.CreateLogger("AgpSparsity");
using var data = FashionMnist.Load(Arg("--data", FashionMnist.DefaultDirectory), logger);
using var test = data.TestLoader(batchSize: 256);
var work = Directory.CreateTempSubdirectory("agp-sparsity-").FullName;
var clock = Stopwatch.StartNew();

// 1. Dense.
torch.manual_seed(seed);
var dense = new FashionCnn();
Train(dense, []);
var denseAccuracy = Accuracy(dense);
var denseSeconds = clock.Elapsed.TotalSeconds;
Console.WriteLine($"dense: accuracy {denseAccuracy:0.0000} after {epochs} epoch(s), {denseSeconds:0}s");

// 2. AGP from the same initial weights and data order: every Conv2d and Linear weight, pruned every --frequency steps
//    from the start of --start-epoch to the start of --end-epoch, then trained at the final sparsity; made permanent at the end.
clock.Restart();
torch.manual_seed(seed);
var agp = new FashionCnn();
var targets = agp.named_modules().Where(m => m.module is TorchSharp.Modules.Conv2d or TorchSharp.Modules.Linear)
    .Select(m => (m.module, "weight")).ToList();
using var stepsProbe = data.TrainLoader(batchSize: 64, seed: seed, subsetRatio: subset);
long stepsPerEpoch = stepsProbe.BatchCount;
var schedule = SparsitySchedule.Agp(finalSparsity, start: startEpoch * stepsPerEpoch, end: endEpoch * stepsPerEpoch, frequency: frequency);
var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(schedule, ScheduleUnit.Step, Global: global, MakePermanentAtEnd: true));
Train(agp, [pruning]);
var agpAccuracy = Accuracy(agp);
var agpSeconds = clock.Elapsed.TotalSeconds;
long entries = 0, zeroCount = 0;
foreach (var (module, name) in targets)
{
    using var scope = torch.NewDisposeScope();
    var w = module.get_parameter(name)!;
    entries += w.numel();
    zeroCount += w.eq(0).sum().item<long>();
}
double sparsity = (double)zeroCount / entries;
Console.WriteLine($"agp: accuracy {agpAccuracy:0.0000}, weight sparsity {sparsity:0.0000}, {agpSeconds:0}s");

// 3. Files: the dense model's weights file, the AGP model stored densely, and its sparse export; the export reloaded.
var densePath = Path.Combine(work, "dense.weights");
CheckpointFile.SaveWeights(densePath, dense);
var agpDensePath = Path.Combine(work, "agp-dense.weights");
CheckpointFile.SaveWeights(agpDensePath, agp);
var sparsePath = Path.Combine(work, "agp.sparse");
var summary = SparseWeightsFile.Save(sparsePath, agp);
var (denseBytes, agpDenseBytes) = (new FileInfo(densePath).Length, new FileInfo(agpDensePath).Length);
var reloaded = new FashionCnn();
CheckpointFile.LoadWeights(sparsePath, reloaded);
bool bitExact = agp.state_dict().All(kv => kv.Value.contiguous().bytes.SequenceEqual(reloaded.state_dict()[kv.Key].contiguous().bytes));
var reloadedAccuracy = Accuracy(reloaded);

// 4. Forward speed: the AGP model run densely against the same weights in COO sparse mm (unfold + mm for the convs).
var sparseForward = new FashionCnn();
CheckpointFile.LoadWeights(sparsePath, sparseForward);
foreach (var (path, module) in sparseForward.named_modules().ToList())
{
    if (module is TorchSharp.Modules.Conv2d conv)
        Trainer.Core.Pruning.ModuleReplacer.Replace(sparseForward, path,
            new SparseConv2d(conv.weight!, conv.bias, padding: conv.weight!.shape[2] / 2, stride: 1));
    else if (module is TorchSharp.Modules.Linear linear)
        Trainer.Core.Pruning.ModuleReplacer.Replace(sparseForward, path, new SparseLinear(linear.weight!, linear.bias));
}
agp.eval();
sparseForward.eval();
var timings = new List<Timing>();
foreach (var batch in new long[] { 1, 64 })
{
    using var scope = torch.NewDisposeScope();
    var x = torch.randn(batch, 1, 28, 28, generator: new torch.Generator(7));
    double maxDiff;
    using (torch.inference_mode()) maxDiff = (agp.call(x) - sparseForward.call(x)).abs().max().item<float>();
    var ms = AlternatingTimer.MedianMs([Forward(agp, x), Forward(sparseForward, x)], rounds, warmupRounds: 3, callsPerRound: batch == 1 ? 20 : 2);
    timings.Add(new Timing(batch, ms[0], ms[1], maxDiff));
}
// The largest layer alone: fc1's Linear as dense addmm against the sparse mm.
var fc1 = (TorchSharp.Modules.Linear)agp.named_modules().Single(m => m.name == "fc1").module;
var fc1Sparse = new SparseLinear(fc1.weight!, fc1.bias);
var layerTimings = new List<Timing>();
foreach (var batch in new long[] { 1, 64 })
{
    using var scope = torch.NewDisposeScope();
    var x = torch.randn(batch, fc1.weight!.shape[1], generator: new torch.Generator(8));
    double maxDiff;
    using (torch.inference_mode()) maxDiff = (fc1.call(x) - fc1Sparse.call(x)).abs().max().item<float>();
    var ms = AlternatingTimer.MedianMs([Forward(fc1, x), Forward(fc1Sparse, x)], rounds, warmupRounds: 3, callsPerRound: batch == 1 ? 50 : 5);
    layerTimings.Add(new Timing(batch, ms[0], ms[1], maxDiff));
}

Console.WriteLine();
Console.WriteLine($"{"model",-28}{"test acc",10}{"vs dense (pt)",15}{"sparsity",10}{"weights file bytes",20}{"size ratio",12}");
Console.WriteLine($"{"dense",-28}{denseAccuracy,10:0.0000}{"0.00",15}{"-",10}{denseBytes,20:N0}{"1.000",12}");
Console.WriteLine($"{"agp, stored dense",-28}{agpAccuracy,10:0.0000}{100 * (agpAccuracy - denseAccuracy),15:+0.00;-0.00}{sparsity,10:0.0000}{agpDenseBytes,20:N0}{(double)agpDenseBytes / denseBytes,12:0.000}");
Console.WriteLine($"{"agp, sparse export",-28}{reloadedAccuracy,10:0.0000}{100 * (reloadedAccuracy - denseAccuracy),15:+0.00;-0.00}{sparsity,10:0.0000}{summary.FileBytes,20:N0}{(double)summary.FileBytes / denseBytes,12:0.000}");
Console.WriteLine($"sparse export reloads bit for bit: {bitExact}");
Console.WriteLine();
Console.WriteLine($"{"forward (same AGP weights)",-30}{"batch",7}{"dense ms",11}{"sparse ms",11}{"sparse/dense",14}{"max|Δ|",10}");
foreach (var t in timings) Console.WriteLine($"{"whole model",-30}{t.Batch,7}{t.DenseMs,11:0.000}{t.SparseMs,11:0.000}{t.SparseMs / t.DenseMs,14:0.00}{t.MaxAbsDiff,10:0.0e+0}");
foreach (var t in layerTimings) Console.WriteLine($"{"fc1 (6272→256) alone",-30}{t.Batch,7}{t.DenseMs,11:0.000}{t.SparseMs,11:0.000}{t.SparseMs / t.DenseMs,14:0.00}{t.MaxAbsDiff,10:0.0e+0}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "agp-sparsity", epochs, final_sparsity = finalSparsity, start_epoch = startEpoch, end_epoch = endEpoch, frequency, global,
    seed, lr, subset, threads, steps_per_epoch = stepsPerEpoch,
    dense = new { accuracy = denseAccuracy, weights_bytes = denseBytes, seconds = denseSeconds },
    agp = new
    {
        accuracy = agpAccuracy, delta_points = 100 * (agpAccuracy - denseAccuracy), sparsity, weights_bytes_dense_storage = agpDenseBytes,
        sparse_export_bytes = summary.FileBytes, size_ratio = (double)summary.FileBytes / denseBytes, reload_bit_exact = bitExact,
        reload_accuracy = reloadedAccuracy, seconds = agpSeconds,
    },
    forward = timings.Select(t => new { scope = "model", batch = t.Batch, dense_ms = t.DenseMs, sparse_ms = t.SparseMs, ratio = t.SparseMs / t.DenseMs, max_abs_diff = t.MaxAbsDiff })
        .Concat(layerTimings.Select(t => new { scope = "fc1", batch = t.Batch, dense_ms = t.DenseMs, sparse_ms = t.SparseMs, ratio = t.SparseMs / t.DenseMs, max_abs_diff = t.MaxAbsDiff })),
}));
Directory.Delete(work, recursive: true);

void Train(torch.nn.Module<torch.Tensor, torch.Tensor> network, IReadOnlyList<TrainerCallback> callbacks)
{
    using var train = data.TrainLoader(batchSize: 64, seed: seed, subsetRatio: subset);
    var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = lr, Momentum = 0.9 }, network.parameters());
    new ClassificationTrainer(new TrainerSetup
    {
        Network = network, TrainLoader = train, Optimizer = optimizer, Logger = logger, Callbacks = callbacks,
        Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "train/epoch_total_loss" },
    }).Run();
}

double Accuracy(torch.nn.Module<torch.Tensor, torch.Tensor> network)
{
    using var unused = data.TrainLoader(batchSize: 64, seed: 0, subsetRatio: 0.01);
    var optimizer = torch.optim.SGD(network.parameters(), 0.0);
    return new AccuracyTrainer(new TrainerSetup { Network = network, TrainLoader = unused, Optimizer = optimizer }).Accuracy(test);
}

static Action Forward(torch.nn.Module<torch.Tensor, torch.Tensor> module, torch.Tensor x) => () =>
{
    using var scope = torch.NewDisposeScope();
    using var mode = torch.inference_mode();
    module.call(x);
};

internal sealed record Timing(long Batch, double DenseMs, double SparseMs, double MaxAbsDiff);
