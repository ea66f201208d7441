using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Graph;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;
using Trainer.Host.Options;

// Trials per minute of the local trial pool: 1 worker × 1 thread against 2 workers × 1 thread, both pools started and warmed
// (model loaded) first, then the same batch of random policies (Fashion CNN at 0.3 of the MACs) run on each in alternating
// order, round after round, each (round, pool) in a folder of its own so no result is reused. The scores of the two pools
// are checked equal. The Fashion CNN is trained briefly first (--train-steps SGD steps) or loaded from --checkpoint.
// Usage: trial-throughput [--rounds 3] [--batch 12] [--held-out 1000] [--train-steps 300] [--data DIR] [--work DIR] [--checkpoint FILE]
var o = args.Select((a, i) => (a, i)).Where(x => x.a.StartsWith("--", StringComparison.Ordinal))
    .ToDictionary(x => x.a[2..], x => x.i + 1 < args.Length ? args[x.i + 1] : "");
string Opt(string key, string fallback) => o.TryGetValue(key, out var v) ? v : fallback;
var c = CultureInfo.InvariantCulture;
int rounds = int.Parse(Opt("rounds", "3"), c), batch = int.Parse(Opt("batch", "12"), c);
int heldOut = int.Parse(Opt("held-out", "1000"), c), trainSteps = int.Parse(Opt("train-steps", "300"), c);
var data = Path.GetFullPath(Opt("data", "/usr/share/datasets/fashion-mnist"));
var work = Path.GetFullPath(Opt("work", Path.Combine(Path.GetTempPath(), "trial-throughput")));
Directory.CreateDirectory(work);
Directory.SetCurrentDirectory(work);   // no appsettings.json here: every setting is given below

string[] common = ["--Model:Name=fashion-cnn", $"--Data:Path={data}", "--Trainer:RunName=bench", $"--Trainer:CheckpointDir={work}/ckpt",
    $"--Trainer:LogDir={work}/runs", "--Trainer:Threads=2", "--Trainer:WeightHistograms=false"];
var checkpoint = Path.GetFullPath(Opt("checkpoint", Path.Combine(work, "ckpt", "bench", "best.ckpt")));
string weights = $"loaded from {checkpoint}";
if (!File.Exists(checkpoint))
{
    int code = TrainerCli.Run(["train", .. common, "--Trainer:Epochs=1", $"--Trainer:MaxSteps={trainSteps}"], Console.Out, Console.Error);
    if (code != 0) return code;
    weights = $"trained {trainSteps} SGD steps (batch 64, lr 0.01)";
}

using var host = TrainerHost.Build([.. common, $"--Model:Checkpoint={checkpoint}", $"--Search:HeldOutSamples={heldOut}", "--Search:TargetFlopsRatio=0.3"]);
host.Services.GetRequiredService<IStartupValidator>().Validate();
var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("TrialThroughput");
var search = host.Services.GetRequiredService<IOptions<SearchOptions>>().Value;
var task = host.Services.GetRequiredService<Trainer.Host.Tasks.TaskProvider>().Task;
var model = ModelLoader.LoadTrained(host.Services.GetRequiredService<IOptions<ModelOptions>>().Value, logger, "benchmark", task);
var space = PolicySpace.Build(model.Network, ModelGraph.Build(model.Network, model.InputShape), search.TargetFlopsRatio, search.LayerFloor, 1);
var template = TrialSpec.ForPolicy(SearchFingerprint.Of(model, task.Name, search), SearchTrials.SpecConfig(host.Services.GetRequiredService<IConfiguration>()),
    work, new Dictionary<string, int>(), 1);
model.Network.Dispose();

LocalPoolTrialRunner Pool(int workers) => new(SearchTrials.WorkerCommand(), new LocalPoolOptions
{
    Workers = workers, ThreadsPerWorker = 1, ThreadVariables = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "Trainer__Threads"],
    Environment = new Dictionary<string, string> { ["OMP_WAIT_POLICY"] = "PASSIVE" },
});
var random = new Random(0);
List<IReadOnlyDictionary<string, int>> Policies(int count) => Enumerable.Range(0, count)
    .Select(_ => space.ById(space.Repair(Enumerable.Range(0, space.Count).Select(_ => space.Floor + random.NextDouble() * (1 - space.Floor)).ToArray())))
    .ToList();
TrialPolicyScorer Scorer(LocalPoolTrialRunner pool, string name) => new(pool, Path.Combine(work, "trials", name), p => template with { Policy = p });

if (Directory.Exists(Path.Combine(work, "trials"))) Directory.Delete(Path.Combine(work, "trials"), recursive: true);
using var one = Pool(1);
using var two = Pool(2);
var warm = Policies(2);
Scorer(one, "warm-1x1").ScoreAll(warm[..1]);
Scorer(two, "warm-2x1").ScoreAll(warm);

var rows = new List<(int Round, string Pool, int Trials, double Seconds)>();
for (int r = 0; r < rounds; r++)
{
    var policies = Policies(batch);
    var scores = new Dictionary<string, IReadOnlyList<PolicyScore>>();
    foreach (var (pool, name) in r % 2 == 0 ? new[] { (one, "1x1"), (two, "2x1") } : [(two, "2x1"), (one, "1x1")])
    {
        var watch = Stopwatch.StartNew();
        scores[name] = Scorer(pool, $"round{r}-{name}").ScoreAll(policies);
        rows.Add((r, name, batch, watch.Elapsed.TotalSeconds));
    }
    if (!scores["1x1"].SequenceEqual(scores["2x1"])) throw new InvalidOperationException($"round {r}: the pools' scores differ");
}

double Tpm(string name) => rows.Where(x => x.Pool == name).Sum(x => x.Trials) / rows.Where(x => x.Pool == name).Sum(x => x.Seconds) * 60;
double tpm1 = Tpm("1x1"), tpm2 = Tpm("2x1");
var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "";
Console.WriteLine($"{"round",5} {"pool",9} {"trials",6} {"seconds",8} {"trials/min",10}");
foreach (var x in rows) Console.WriteLine(string.Create(c, $"{x.Round,5} {x.Pool + " w×t",9} {x.Trials,6} {x.Seconds,8:0.00} {x.Trials / x.Seconds * 60,10:0.0}"));
Console.WriteLine(string.Create(c, $"1 worker × 1 thread: {tpm1:0.0} trials/min; 2 workers × 1 thread: {tpm2:0.0} trials/min; ratio {tpm2 / tpm1:0.00}× " +
                                   $"({Environment.ProcessorCount} cores, load average {load}); weights {weights}"));
Console.WriteLine(JsonSerializer.Serialize(new
{
    benchmark = "trial-throughput", model = "fashion-cnn", weights, held_out = heldOut, target_macs = search.TargetFlopsRatio, rounds, batch,
    one_worker_trials_per_min = Math.Round(tpm1, 2), two_workers_trials_per_min = Math.Round(tpm2, 2), ratio = Math.Round(tpm2 / tpm1, 3),
    cores = Environment.ProcessorCount, load_average = load, scores_equal = true,
}));
return 0;
