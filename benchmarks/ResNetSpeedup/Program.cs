using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using TorchSharp;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

// TorchVision resnet18 (random weights, seed 0), 1x3x224x224, batch-1 eval latency: the original against a latency-aware
// allocation and a uniform one at the same MACs budget, all three in alternating rounds in this process; then all three
// in inference form (BatchNorm folded, faster memory layout). Latency only: channels are the first k of each group.
// Usage: DOTNET_TieredCompilation=0 dotnet run -c Release --project benchmarks/ResNetSpeedup --
//        [--threads 2] [--rounds 21] [--target 0.5] [--floor 0.5] [--round-to 8] [--grid-points 5] [--cache-dir DIR] [--no-cache]
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
double Num(string name, double fallback) => double.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
int threads = (int)Num("--threads", 2), rounds = (int)Num("--rounds", 21), roundTo = (int)Num("--round-to", 8);
double target = Num("--target", 0.5), floor = Num("--floor", 0.5);
var tableOptions = new LatencyTableOptions
{
    Floor = floor, RoundTo = roundTo, GridPoints = (int)Num("--grid-points", 5), UseCache = !args.Contains("--no-cache"),
    CacheDir = Arg("--cache-dir", LatencyTableOptions.DefaultCacheDir()),
};
torch.set_num_threads(threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
var log = loggers.CreateLogger("resnet-speedup");
long[] shape = [1, 3, 224, 224];
string loadBefore = Load();

var original = Create();
var graph = ModelGraph.Build(original, shape, log);
var table = LatencyTable.LoadOrMeasure(original, shape, graph, tableOptions, log);
var aware = LatencyAwareAllocator.Allocate(original, graph, table, target, floor, roundTo, log);
var uniform = UniformAllocator.Allocate(original, graph, target, roundTo, table, log);

var awareModel = Shrunk(aware);
var uniformModel = Shrunk(uniform);
long countedAware = FlopsCounter.Count(awareModel, shape).TotalFlops, countedUniform = FlopsCounter.Count(uniformModel, shape).TotalFlops;
if (countedAware != aware.Macs || countedUniform != uniform.Macs)
    log.LogWarning("MACs of the shrunk models ({A}, {U}) differ from the allocations' ({Aa}, {Ua})", countedAware, countedUniform, aware.Macs, uniform.Macs);

using var input = torch.randn(shape);
var same = Time([original, awareModel, uniformModel]);

var inference = new[] { Create(), Shrunk(aware), Shrunk(uniform) };
var reports = inference.Select(m => InferenceForm.Apply(m, shape, new InferenceFormOptions(), log)).ToArray();
var folded = Time(inference);
string loadAfter = Load();

Console.WriteLine();
Console.WriteLine($"{"model",-16}{"MACs ratio",12}{"min keep",10}{"predicted ms",14}{"measured ms",13}{"speedup",9}{"inference ms",14}{"speedup",9}{"layout",14}");
string[] names = ["original", "latency-aware", "uniform"];
ChannelAllocation?[] allocations = [null, aware, uniform];
for (int i = 0; i < 3; i++)
{
    double predicted = allocations[i]?.PredictedMs ?? table.FullPredictedMs;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{names[i],-16}{allocations[i]?.MacsRatio ?? 1,12:0.000}{allocations[i]?.MinKeepRatio ?? 1,10:0.000}{predicted,14:0.00}{same[i],13:0.00}" +
        $"{same[0] / same[i],9:0.00}{folded[i],14:0.00}{folded[0] / folded[i],9:0.00}{reports[i].Layout,14}"));
}
Console.WriteLine($"latency-aware widths: {aware}");
Console.WriteLine($"uniform widths: {uniform}");
Console.WriteLine($"load (uptime 1-min average) before {loadBefore}, after {loadAfter}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "resnet_speedup", model = "resnet18", input = "1x3x224x224", threads, rounds,
    mac_ratio = Math.Round(aware.MacsRatio, 4), min_layer_ratio = Math.Round(aware.MinKeepRatio, 4), round_to = roundTo,
    speedup_same_format = Math.Round(same[0] / same[1], 3),
    speedup_inference_form = Math.Round(folded[0] / folded[1], 3),
    uniform_mac_ratio = Math.Round(uniform.MacsRatio, 4),
    uniform_speedup = Math.Round(same[0] / same[2], 3),
    uniform_speedup_inference_form = Math.Round(folded[0] / folded[2], 3),
    predicted_speedup = Math.Round(aware.PredictedSpeedup ?? 0, 3),
    predicted_uniform_speedup = Math.Round(uniform.PredictedSpeedup ?? 0, 3),
    original_ms = Math.Round(same[0], 2), pruned_ms = Math.Round(same[1], 2),
    original_inference_ms = Math.Round(folded[0], 2), pruned_inference_ms = Math.Round(folded[1], 2),
    original_predicted_ms = Math.Round(table.FullPredictedMs, 2), pruned_predicted_ms = Math.Round(aware.PredictedMs ?? 0, 2),
    layouts = reports.Select(r => r.Layout.ToString()).ToArray(),
    table_seconds = Math.Round(table.MeasureSeconds, 1),
    group_keep = aware.KeptChannels,
    load_before = loadBefore, load_after = loadAfter,
}));
return 0;

nn.Module<Tensor, Tensor> Create()
{
    torch.manual_seed(0);
    var model = torchvision.models.resnet18();
    model.eval();
    return model;
}

nn.Module<Tensor, Tensor> Shrunk(ChannelAllocation allocation)
{
    var model = Create();
    ChannelShrinker.Shrink(model, graph, allocation.FirstChannelMasks(graph), new ShrinkOptions { RoundTo = roundTo });
    model.eval();
    return model;
}

// Median ms per model over alternating rounds (each round runs every model 3 times, in turn).
double[] Time(IReadOnlyList<nn.Module<Tensor, Tensor>> models) =>
    AlternatingTimer.MedianMs(models.Select(m => (Action)(() =>
    {
        using var mode = torch.inference_mode();
        m.call(input).Dispose();
    })).ToList(), rounds, warmupRounds: 3, callsPerRound: 3);

static string Load() =>
    File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";
