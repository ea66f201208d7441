using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

// Where the batch-1 time goes: a catalog model (random weights, seed 0) and its latency-aware allocation at the target
// MACs, each as it is, in channels-last, and in inference form (BatchNorm folded + channels-last). Totals come from
// alternating rounds without hooks; the per-piece split from forward hooks on every leaf layer (hooks add a little time,
// so the pieces sum to a bit more than the totals). Pieces are the first two parts of a layer's path and its type.
// Usage: DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/LatencyProfile --
//        [--model resnet18] [--threads 2] [--rounds 21] [--reps 40] [--target 0.5] [--floor 0.5] [--round-to 8] [--cache-dir DIR]
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
double Num(string name, double fallback) => double.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
string modelName = Arg("--model", "resnet18");
int threads = (int)Num("--threads", 2), rounds = (int)Num("--rounds", 21), reps = (int)Num("--reps", 40), roundTo = (int)Num("--round-to", 8);
double target = Num("--target", 0.5), floor = Num("--floor", 0.5);
torch.set_num_threads(threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
var log = loggers.CreateLogger("latency-profile");
var entry = ModelCatalog.Get(modelName);
long[] shape = [1, .. entry.DefaultInputShape.Skip(1)];

var graph = ModelGraph.Build(Create(), shape, log);
var table = LatencyTable.LoadOrMeasure(Create(), shape, graph,
    new LatencyTableOptions { Floor = floor, RoundTo = roundTo, CacheDir = Arg("--cache-dir", LatencyTableOptions.DefaultCacheDir()) }, log);
var aware = LatencyAwareAllocator.Allocate(Create(), graph, table, target, floor, roundTo, log);

(string Name, nn.Module<Tensor, Tensor> Model)[] variants =
[
    ("original", Create()), ("original CL", ChannelsLastOnly(Create())), ("original inf.", Inference(Create())),
    ("pruned", Shrunk()), ("pruned CL", ChannelsLastOnly(Shrunk())), ("pruned inf.", Inference(Shrunk())),
];
using var input = torch.randn(shape);
var totals = AlternatingTimer.ForwardMs(variants.Select(v => v.Model).ToList(), shape, rounds, callsPerRound: 3, warmupRounds: 3);
var pieces = variants.Select(v => Pieces(v.Model)).ToArray();

var keys = pieces.SelectMany(p => p.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();
Console.WriteLine();
Console.WriteLine($"{"piece (ms per forward)",-34}" + string.Concat(variants.Select(v => $"{v.Name,15}")));
foreach (var key in keys.Where(k => pieces.Any(p => p.GetValueOrDefault(k) >= 0.005)))
    Console.WriteLine($"{key,-34}" + string.Concat(pieces.Select(p => F(p.GetValueOrDefault(key), 15))));
Console.WriteLine($"{"sum of pieces (hooked)",-34}" + string.Concat(pieces.Select(p => F(p.Values.Sum(), 15))));
Console.WriteLine($"{"whole forward (alternating)",-34}" + string.Concat(totals.Select(t => F(t, 15))));
Console.WriteLine($"{"speedup over the original",-34}" + string.Concat(totals.Select((t, i) => F(totals[i < 3 ? 0 : i - 3] / t, 15))));
Console.WriteLine($"pruned: {aware}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "latency_profile", model = modelName, input = string.Join("x", shape), threads, rounds, reps,
    mac_ratio = Math.Round(aware.MacsRatio, 4),
    total_ms = variants.Select((v, i) => new { variant = v.Name, ms = Math.Round(totals[i], 3) }).ToArray(),
    speedup = new
    {
        same_format = Math.Round(totals[0] / totals[3], 3),
        channels_last = Math.Round(totals[1] / totals[4], 3),
        inference_form = Math.Round(totals[2] / totals[5], 3),
    },
    top_pieces_original = pieces[0].OrderByDescending(p => p.Value).Take(5).Select(p => new { piece = p.Key, ms = Math.Round(p.Value, 3) }).ToArray(),
}));
return 0;

nn.Module<Tensor, Tensor> Create()
{
    torch.manual_seed(0);
    var model = entry.Create();
    model.eval();
    return model;
}

nn.Module<Tensor, Tensor> Shrunk()
{
    var model = Create();
    ChannelShrinker.Shrink(model, graph, aware.FirstChannelMasks(graph), new ShrinkOptions { RoundTo = roundTo });
    model.eval();
    return model;
}

nn.Module<Tensor, Tensor> ChannelsLastOnly(nn.Module<Tensor, Tensor> model)
{
    ChannelsLast.ConvertConvWeights(model);
    return model;
}

nn.Module<Tensor, Tensor> Inference(nn.Module<Tensor, Tensor> model)
{
    InferenceForm.Apply(model, shape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast }, log);
    return model;
}

void Forward(nn.Module<Tensor, Tensor> model)
{
    using var mode = torch.inference_mode();
    using var pass = torch.NewDisposeScope();
    model.call(input);
}

// Milliseconds per forward of each piece, from pre/post hooks on every leaf layer.
Dictionary<string, double> Pieces(nn.Module<Tensor, Tensor> model)
{
    var sums = new Dictionary<string, double>();
    var started = new Dictionary<string, long>();
    var removers = new List<Action>();
    foreach (var (name, module) in model.named_modules())
    {
        if (module.children().Any() || module is not nn.Module<Tensor, Tensor> leaf) continue;
        var parts = name.Split('.');
        string key = string.Join(".", parts.Take(2)) + ":" + module.GetType().Name;
        var pre = leaf.register_forward_pre_hook((_, _) => { started[name] = Stopwatch.GetTimestamp(); return null; });
        var post = leaf.register_forward_hook((_, _, _) =>
        {
            sums[key] = sums.GetValueOrDefault(key) + Stopwatch.GetElapsedTime(started[name]).TotalMilliseconds;
            return null;
        });
        removers.Add(pre.remove);
        removers.Add(post.remove);
    }
    for (int r = 0; r < 3; r++) Forward(model);
    sums.Clear();
    for (int r = 0; r < reps; r++) Forward(model);
    foreach (var remove in removers) remove();
    return sums.ToDictionary(p => p.Key, p => p.Value / reps);
}

static string F(double value, int width) => value.ToString("0.000", CultureInfo.InvariantCulture).PadLeft(width);
