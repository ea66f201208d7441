using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Trainer.Core.Analysis;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

// ONNX Runtime against TorchSharp, batch 1 and batch 32, alternating rounds in this process (medians), equal threads:
// resnet18 (catalog, random weights: latency only) as it is, at <= --target of its Conv+Linear MACs with the widths of the
// latency-aware allocation timed in ONNX Runtime (Compression:LatencyForm=onnx: --round-to 16, every layer >= --floor),
// and one uniform width at the same MACs budget with any channel count (--uniform-round-to 1: odd counts) for contrast;
// then the Fashion CNN, its compressed model in ONNX Runtime against the model as trained in TorchSharp.
// Compressed models keep the first k channels of each group (weights do not change latency).
// Usage: DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/OnnxRuntimeSpeed --
//        [--threads 2] [--rounds 15] [--batches 1,32] [--target 0.5] [--floor 0.5] [--round-to 16] [--uniform-round-to 1]
//        [--grid-points 5] [--table-rounds 7] [--measure 8] [--size 224] [--cache-dir DIR] [--no-cache] [--no-fashion]
//        [--no-inference-form] (skips the TorchSharp inference-form column)
//        [--refine-steps 0] (measured moves in ONNX Runtime after the measured choice, as Compression:RefineSteps)
//        [--ort-pool per-session|shared] (shared: one process-wide ONNX Runtime pool that spins, OnnxRuntimeThreading.UseSharedPool)
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
double Num(string name, double fallback) => double.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
int threads = (int)Num("--threads", 2), rounds = (int)Num("--rounds", 15), roundTo = (int)Num("--round-to", 16);
int uniformRoundTo = (int)Num("--uniform-round-to", 1), measure = Math.Max(1, (int)Num("--measure", 8)), size = (int)Num("--size", 224);
double target = Num("--target", 0.5), floor = Num("--floor", 0.5);
bool torchInferenceForm = !args.Contains("--no-inference-form");
int[] batches = Arg("--batches", "1,32").Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray();
var tableOptions = new LatencyTableOptions
{
    Floor = floor, RoundTo = roundTo, GridPoints = (int)Num("--grid-points", 5), Rounds = (int)Num("--table-rounds", 7),
    UseCache = !args.Contains("--no-cache"), CacheDir = Arg("--cache-dir", LatencyTableOptions.DefaultCacheDir()),
    Engine = LatencyEngine.OnnxRuntime, OnnxThreads = threads,
};
int refineSteps = (int)Num("--refine-steps", 0);
string pool = Arg("--ort-pool", "per-session");
if (pool == "shared") OnnxRuntimeThreading.UseSharedPool(threads, spinning: true);
else if (pool != "per-session") throw new ArgumentException($"--ort-pool {pool}: use per-session or shared");
torch.set_num_threads(threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
var log = loggers.CreateLogger("onnxruntime-speed");
string loadBefore = Load();
string settings = $"ONNX Runtime {OnnxRuntimeRunner.Version} ({OnnxRuntimeRunner.SettingsText}, {threads} intra-op threads); " +
                  $"TorchSharp eager, inference mode, {threads} threads";
Console.WriteLine(settings);

// resnet18: the original, the latency-aware allocation timed in ONNX Runtime, a uniform width.
var resnet = ModelCatalog.Get("resnet18");
long[] shape = [1, 3, size, size];
var (resnetVariants, aware, uniform, candidates) = Compress(resnet, shape, withUniform: true);
var resnetMs = batches.ToDictionary(b => b, b => Time(resnetVariants, shape, b));

// The Fashion CNN of the default job: its compressed model in ONNX Runtime against the model as trained in TorchSharp.
List<Variant> fashionVariants = [];
Dictionary<int, Dictionary<(string, string), double>> fashionMs = [];
ChannelAllocation? fashionAware = null;
if (!args.Contains("--no-fashion"))
{
    var fashion = ModelCatalog.Get("fashion-cnn");
    (fashionVariants, fashionAware, _, _) = Compress(fashion, fashion.DefaultInputShape, withUniform: false);
    fashionMs = batches.ToDictionary(b => b, b => Time(fashionVariants, fashion.DefaultInputShape, b));
}
string loadAfter = Load();

Console.WriteLine();
Console.WriteLine(settings);
Print($"resnet18 1x3x{size}x{size}", resnetVariants, resnetMs);
if (fashionVariants.Count > 0) Print("fashion-cnn 1x1x28x28", fashionVariants, fashionMs);

// The goals: ONNX Runtime, compressed against original (time falls at least as fast as MACs: speedup x MACs ratio >= 1),
// and what ships against what was trained (the compressed model in ONNX Runtime against the original in TorchSharp).
var ratios = new Dictionary<string, double>();
foreach (int b in batches)
{
    var ms = resnetMs[b];
    ratios[$"resnet18_ort_aware_speedup_b{b}"] = ms[("original", "ort")] / ms[("latency-aware", "ort")];
    ratios[$"resnet18_ort_aware_speedup_x_macs_b{b}"] = ratios[$"resnet18_ort_aware_speedup_b{b}"] * aware.MacsRatio;
    ratios[$"resnet18_ort_uniform_speedup_b{b}"] = ms[("original", "ort")] / ms[("uniform", "ort")];
    ratios[$"resnet18_ort_vs_torch_original_b{b}"] = ms[("original", "torch")] / ms[("original", "ort")];
    ratios[$"resnet18_ship_vs_trained_b{b}"] = ms[("original", "torch")] / ms[("latency-aware", "ort")];
    ratios[$"resnet18_torch_aware_speedup_b{b}"] = ms[("original", "torch")] / ms[("latency-aware", "torch")];
    if (fashionMs.TryGetValue(b, out var f))
    {
        ratios[$"fashion_ship_vs_trained_b{b}"] = f[("original", "torch")] / f[("latency-aware", "ort")];
        ratios[$"fashion_ort_aware_speedup_b{b}"] = f[("original", "ort")] / f[("latency-aware", "ort")];
        ratios[$"fashion_ort_vs_torch_original_b{b}"] = f[("original", "torch")] / f[("original", "ort")];
    }
}
Console.WriteLine();
foreach (int b in batches)
{
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"batch {b}: resnet18 in ONNX Runtime, latency-aware ({aware.MacsRatio:0.000} MACs) against original {ratios[$"resnet18_ort_aware_speedup_b{b}"]:0.00}x " +
        $"(goal >= {1 / aware.MacsRatio:0.00}x, time falling as fast as MACs: {Verdict(ratios[$"resnet18_ort_aware_speedup_x_macs_b{b}"] >= 1)}); " +
        $"uniform ({uniform!.MacsRatio:0.000} MACs) {ratios[$"resnet18_ort_uniform_speedup_b{b}"]:0.00}x"));
    string fashionPart = ratios.TryGetValue($"fashion_ship_vs_trained_b{b}", out var fr)
        ? string.Create(CultureInfo.InvariantCulture, $", fashion-cnn {fr:0.00}x")
        : "";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"batch {b}: shipped against trained (latency-aware in ONNX Runtime against the original in TorchSharp): resnet18 " +
        $"{ratios[$"resnet18_ship_vs_trained_b{b}"]:0.00}x (goal >= 3.5: {Verdict(ratios[$"resnet18_ship_vs_trained_b{b}"] >= 3.5)}){fashionPart}"));
}
Console.WriteLine($"latency-aware widths (timed in ONNX Runtime, {candidates} candidates): {aware}");
Console.WriteLine($"uniform widths: {uniform}");
if (fashionAware is not null) Console.WriteLine($"fashion-cnn latency-aware widths: {fashionAware}");
Console.WriteLine($"load (1-min average) before {loadBefore}, after {loadAfter}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "onnxruntime_speed", onnxruntime = OnnxRuntimeRunner.Version, session = OnnxRuntimeRunner.SettingsText, ort_pool = pool,
    refine_steps = refineSteps, threads, rounds,
    batches, input = $"1x3x{size}x{size}", round_to = roundTo, floor, target,
    mac_ratio = Math.Round(aware.MacsRatio, 4), min_layer_ratio = Math.Round(aware.MinKeepRatio, 4), group_keep = aware.KeptChannels,
    uniform_mac_ratio = Math.Round(uniform!.MacsRatio, 4), uniform_round_to = uniformRoundTo, uniform_keep = uniform.KeptChannels,
    fashion_mac_ratio = fashionAware is null ? (double?)null : Math.Round(fashionAware.MacsRatio, 4), fashion_keep = fashionAware?.KeptChannels,
    ratios = ratios.ToDictionary(r => r.Key, r => Math.Round(r.Value, 3)),
    resnet18_ms = Flatten(resnetMs), fashion_ms = Flatten(fashionMs),
    load_before = loadBefore, load_after = loadAfter,
}));
return 0;

// The original, its latency-aware allocation in the onnx form (and a uniform one), each as TorchSharp model and ONNX bytes.
(List<Variant>, ChannelAllocation, ChannelAllocation?, int) Compress(ModelEntry entry, long[] inputShape, bool withUniform)
{
    var original = Create(entry);
    var graph = ModelGraph.Build(original, inputShape, log);
    var table = LatencyTable.LoadOrMeasure(original, inputShape, graph, tableOptions, log);
    var found = LatencyAwareAllocator.Candidates(original, graph, table, target, floor, roundTo, measure);
    // The table proposes; the candidates are built and timed in ONNX Runtime (batch 1) and the fastest measured wins.
    var timer = OnnxRuntimeRunner.ForwardTimer(inputShape, threads, rounds: 9);
    var chosen = MeasuredChoice.Rank(found, a => Shrunk(entry, graph, a, roundTo), timer, logger: log)[0].Allocation;
    if (refineSteps > 0)
        chosen = MeasuredChoice.Refine(chosen, a => LatencyAwareAllocator.Neighbours(original, graph, table, a, target, floor, roundTo, count: 10),
            a => Shrunk(entry, graph, a, roundTo), timer, refineSteps, logger: log).Allocation;
    var variants = new List<Variant> { Make("original", () => Create(entry), null, inputShape, withInference: true) };
    variants.Add(Make("latency-aware", () => Shrunk(entry, graph, chosen, roundTo), chosen, inputShape, withInference: true));
    ChannelAllocation? flat = null;
    if (withUniform)
    {
        flat = UniformAllocator.Allocate(original, graph, target, uniformRoundTo, table, log);
        variants.Add(Make("uniform", () => Shrunk(entry, graph, flat, uniformRoundTo), flat, inputShape, withInference: false));
    }
    foreach (var v in variants.Where(v => v.Allocation is not null))
        if (FlopsCounter.Count(v.Eager, inputShape).TotalFlops is var counted && counted != v.Allocation!.Macs)
            log.LogWarning("MACs of the shrunk {Name} model ({Counted}) differ from the allocation's ({Macs})", v.Name, counted, v.Allocation.Macs);
    return (variants, chosen, flat, found.Count);
}

Variant Make(string name, Func<nn.Module<Tensor, Tensor>> build, ChannelAllocation? allocation, long[] inputShape, bool withInference)
{
    var eager = build();
    var onnx = OnnxRuntimeRunner.ExportBytes(eager, inputShape);
    nn.Module<Tensor, Tensor>? inference = null;
    if (withInference && torchInferenceForm)
    {
        // The TorchSharp inference form (BatchNorm folded, faster layout) of a second copy: what `trainer export` ships for TorchSharp.
        inference = build();
        InferenceForm.Apply(inference, inputShape, new InferenceFormOptions());
    }
    return new Variant(name, allocation, eager, inference, onnx);
}

nn.Module<Tensor, Tensor> Create(ModelEntry entry)
{
    torch.manual_seed(0);
    var model = entry.Create();
    model.eval();
    return model;
}

nn.Module<Tensor, Tensor> Shrunk(ModelEntry entry, ModelGraph graph, ChannelAllocation allocation, int multiple)
{
    var model = Create(entry);
    ChannelShrinker.Shrink(model, graph, allocation.FirstChannelMasks(graph), new ShrinkOptions { RoundTo = multiple });
    model.eval();
    return model;
}

// Median ms per forward at batch b of every variant in every engine, all in one set of alternating rounds.
Dictionary<(string, string), double> Time(IReadOnlyList<Variant> variants, long[] inputShape, int b)
{
    long[] batchShape = [b, .. inputShape.Skip(1)];
    var runners = variants.Select(v => new OnnxRuntimeRunner(v.Onnx, batchShape, threads)).ToList();
    using var generator = new Generator(0);
    using var input = randn(batchShape, generator: generator);
    try
    {
        var actions = new List<((string, string) Key, Action Run)>();
        for (int i = 0; i < variants.Count; i++)
        {
            var v = variants[i];
            actions.Add(((v.Name, "ort"), runners[i].Run));
            actions.Add(((v.Name, "torch"), () => Forward(v.Eager, input)));
            if (v.Inference is { } inference) actions.Add(((v.Name, "torch-inference"), () => Forward(inference, input)));
        }
        log.LogInformation("Timing {Count} model-engine pairs at batch {Batch}, {Rounds} alternating rounds...", actions.Count, b, rounds);
        var ms = AlternatingTimer.MedianMs(actions.Select(a => a.Run).ToList(), rounds, warmupRounds: 2, callsPerRound: b == 1 ? 3 : 1);
        return actions.Select((a, i) => (a.Key, ms[i])).ToDictionary(x => x.Key, x => x.Item2);
    }
    finally
    {
        foreach (var r in runners) r.Dispose();
    }
}

static void Forward(nn.Module<Tensor, Tensor> model, Tensor input)
{
    using var mode = inference_mode();
    using var pass = NewDisposeScope();
    model.call(input);
}

void Print(string title, IReadOnlyList<Variant> variants, Dictionary<int, Dictionary<(string, string), double>> ms)
{
    Console.WriteLine();
    Console.WriteLine(title);
    Console.WriteLine($"{"model",-15}{"MACs",7}{"min keep",9}{"batch",7}{"ORT ms",10}{"Torch ms",10}{"Torch inf.",11}{"Torch/ORT",10}{"ORT speedup",12}{"vs trained",11}");
    foreach (int b in batches)
        foreach (var v in variants)
        {
            var m = ms[b];
            double ort = m[(v.Name, "ort")], eager = m[(v.Name, "torch")];
            string inference = m.TryGetValue((v.Name, "torch-inference"), out var inf) ? inf.ToString("0.00", CultureInfo.InvariantCulture) : "-";
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{v.Name,-15}{v.Allocation?.MacsRatio ?? 1,7:0.000}{v.Allocation?.MinKeepRatio ?? 1,9:0.000}{b,7}{ort,10:0.00}{eager,10:0.00}{inference,11}" +
                $"{eager / ort,10:0.00}{m[("original", "ort")] / ort,12:0.00}{m[("original", "torch")] / ort,11:0.00}"));
        }
}

static Dictionary<string, double> Flatten(Dictionary<int, Dictionary<(string, string), double>> ms) =>
    ms.SelectMany(b => b.Value.Select(m => ($"{m.Key.Item1}|{m.Key.Item2}|b{b.Key}", Math.Round(m.Value, 3)))).ToDictionary(x => x.Item1, x => x.Item2);

static string Verdict(bool met) => met ? "met" : "not met";

static string Load() =>
    File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";

/// <summary>One model of the comparison: its TorchSharp form as trained, its TorchSharp inference form (or null), its ONNX bytes.</summary>
internal sealed record Variant(string Name, ChannelAllocation? Allocation, nn.Module<Tensor, Tensor> Eager, nn.Module<Tensor, Tensor>? Inference, byte[] Onnx);
