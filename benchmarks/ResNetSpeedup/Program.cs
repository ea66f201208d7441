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
//        [--quantile 0.5] [--measure 8] [--refine 0] [--inference-table] [--frontier 0.3,0.35,0.4] [--plot speedup.png]
//        (--inference-table: candidates for the inference form also from a table measured on the original in that form)
string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
double Num(string name, double fallback) => double.Parse(Arg(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);
int threads = (int)Num("--threads", 2), rounds = (int)Num("--rounds", 21), roundTo = (int)Num("--round-to", 8);
double target = Num("--target", 0.5), floor = Num("--floor", 0.5);
var tableOptions = new LatencyTableOptions
{
    Floor = floor, RoundTo = roundTo, GridPoints = (int)Num("--grid-points", 5), UseCache = !args.Contains("--no-cache"),
    CacheDir = Arg("--cache-dir", LatencyTableOptions.DefaultCacheDir()), Quantile = Num("--quantile", 0.5),
};
torch.set_num_threads(threads);
using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; }));
var log = loggers.CreateLogger("resnet-speedup");
long[] shape = [1, 3, 224, 224];
string loadBefore = Load();

var original = Create();
var graph = ModelGraph.Build(original, shape, log);
var table = LatencyTable.LoadOrMeasure(original, shape, graph, tableOptions, log);
// The table proposes; with --measure N (default 8) the N best-predicted allocations are timed and the fastest measured wins.
int measure = (int)Num("--measure", 8);
var candidates = LatencyAwareAllocator.Candidates(original, graph, table, target, floor, roundTo, Math.Max(1, measure));
var tablePick = candidates[0];
var aware = MeasuredChoice.Rank(candidates, Shrunk, shape, logger: log)[0].Allocation;
// With --refine N: up to N measured local moves from there (each times about ten neighbours against the incumbent).
int refineSteps = (int)Num("--refine", 0);
if (refineSteps > 0)
    aware = MeasuredChoice.Refine(aware, a => LatencyAwareAllocator.Neighbours(original, graph, table, a, target, floor, roundTo, 10),
        Shrunk, MeasuredChoice.ForwardTimer(shape, rounds: 9), refineSteps, logger: log).Allocation;
var uniform = UniformAllocator.Allocate(original, graph, target, roundTo, table, log);

// Extra allocations only to check the table's predictions against measurements at other budgets.
ChannelAllocation[] checks =
[
    LatencyAwareAllocator.Allocate(original, graph, table, 0.35, floor, roundTo),
    LatencyAwareAllocator.Allocate(original, graph, table, 0.7, floor, roundTo),
    UniformAllocator.Allocate(original, graph, 0.7, roundTo, table),
];
ChannelAllocation[] allocations = [aware, uniform, .. checks];
var shrunk = allocations.Select(Shrunk).ToArray();
for (int i = 0; i < allocations.Length; i++)
    if (FlopsCounter.Count(shrunk[i], shape).TotalFlops is var counted && counted != allocations[i].Macs)
        log.LogWarning("MACs of the shrunk {Method} model ({Counted}) differ from the allocation's ({Macs})", allocations[i].Method, counted, allocations[i].Macs);

var same = Time([original, .. shrunk]);

// In inference form the candidates are timed in that form: it is the form that ships. With --inference-table the
// candidates of a table measured on the original in its inference form join them.
var originalForm = Create();
var originalReport = InferenceForm.Apply(originalForm, shape, new InferenceFormOptions(), log);
var formCandidates = candidates.ToList();
if (args.Contains("--inference-table"))
{
    var formGraph = ModelGraph.Build(originalForm, shape, log);
    var formTable = LatencyTable.LoadOrMeasure(originalForm, shape, formGraph, tableOptions with { Layout = MemoryLayout.ChannelsLast }, log);
    formCandidates.AddRange(LatencyAwareAllocator.Candidates(originalForm, formGraph, formTable, target, floor, roundTo, Math.Max(1, measure)));
}
var awareForm = MeasuredChoice.Rank(formCandidates, a => Inference(Shrunk(a)), shape, logger: log)[0].Allocation;
if (refineSteps > 0)
    awareForm = MeasuredChoice.Refine(awareForm, a => LatencyAwareAllocator.Neighbours(original, graph, table, a, target, floor, roundTo, 10),
        a => Inference(Shrunk(a)), MeasuredChoice.ForwardTimer(shape, rounds: 9), refineSteps, logger: log).Allocation;
var inference = new List<nn.Module<Tensor, Tensor>> { originalForm, Shrunk(awareForm), Shrunk(uniform) };
var reports = inference.Skip(1).Select(m => InferenceForm.Apply(m, shape, new InferenceFormOptions(), log)).Prepend(originalReport).ToList();
// The original in channels-last without folding: how much of the inference-form gain is the folding.
var channelsLastOnly = Create();
ChannelsLast.ConvertConvWeights(channelsLastOnly);
inference.Add(channelsLastOnly);
var folded = Time(inference);
double channelsLastOnlyMs = folded[^1];
// Optionally the speedup frontier in inference form: the latency-aware pick at other MACs budgets, timed together.
var frontierTargets = Arg("--frontier", "").Split(',', StringSplitOptions.RemoveEmptyEntries)
    .Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToList();
var frontier = frontierTargets.Select(t => MeasuredChoice.Rank(
    LatencyAwareAllocator.Candidates(original, graph, table, t, floor, roundTo, Math.Max(1, measure)), a => Inference(Shrunk(a)), shape)[0].Allocation).ToList();
double[] frontierMs = frontier.Count == 0 ? [] : Time([Inference(Create()), .. frontier.Select(a => Inference(Shrunk(a)))]);
string loadAfter = Load();

// Two ways to use the rest (whole model minus pieces): constant, or scaled with the pieces' sum.
double rest = table.RestMs, pieces = table.FullPredictedMs - rest;
double Scaled(double predicted) => (predicted - rest) * table.FullMeasuredMs / pieces;
double[] predictedConstant = [table.FullPredictedMs, .. allocations.Select(a => a.PredictedMs!.Value)];
double[] predictedScaled = predictedConstant.Select(Scaled).ToArray();
string[] names = ["original", "latency-aware", "uniform", "aware 0.35", "aware 0.7", "uniform 0.7"];

Console.WriteLine();
Console.WriteLine($"{"model",-15}{"MACs",7}{"min keep",9}{"pred ms",9}{"pred scaled",12}{"measured",10}{"speedup",9}{"pred speedup",13}{"inference ms",14}{"speedup",9}{"layout",14}");
for (int i = 0; i < names.Length; i++)
{
    var a = i == 0 ? null : allocations[i - 1];
    string inferenceColumns = i < 3
        ? string.Create(CultureInfo.InvariantCulture, $"{folded[i],14:0.00}{folded[0] / folded[i],9:0.00}{reports[i].Layout,14}")
        : "";
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{names[i],-15}{a?.MacsRatio ?? 1,7:0.000}{a?.MinKeepRatio ?? 1,9:0.000}{predictedConstant[i],9:0.00}{predictedScaled[i],12:0.00}" +
        $"{same[i],10:0.00}{same[0] / same[i],9:0.00}{predictedConstant[0] / predictedConstant[i],13:0.00}{inferenceColumns}"));
}
double Error(double[] predicted) => predicted.Zip(same, (p, m) => Math.Abs(p - m) / m).Average();
double SpeedupError(double[] predicted) =>
    Enumerable.Range(1, same.Length - 1).Average(i => Math.Abs(predicted[0] / predicted[i] - same[0] / same[i]) / (same[0] / same[i]));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"prediction error (mean |pred - measured| / measured): constant rest {Error(predictedConstant):P1}, scaled rest {Error(predictedScaled):P1}; " +
    $"speedup error {SpeedupError(predictedConstant):P1} / {SpeedupError(predictedScaled):P1}"));
Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"original in channels-last, BatchNorm not folded: {channelsLastOnlyMs:0.00} ms ({channelsLastOnlyMs / folded[1]:0.00}x the latency-aware inference form)"));
for (int i = 0; i < frontier.Count; i++)
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"frontier, inference form: MACs {frontier[i].MacsRatio:0.000} (target {frontierTargets[i]}), {frontierMs[i + 1]:0.00} ms against {frontierMs[0]:0.00}: {frontierMs[0] / frontierMs[i + 1]:0.00}x"));
Console.WriteLine($"latency-aware widths: {aware}");
if (!ReferenceEquals(aware, tablePick)) Console.WriteLine($"  (the table's own pick, before measuring {candidates.Count} candidates: {tablePick})");
if (!ReferenceEquals(awareForm, aware)) Console.WriteLine($"latency-aware widths, chosen in inference form: {awareForm}");
Console.WriteLine($"uniform widths: {uniform}");
Console.WriteLine($"load (1-min average) before {loadBefore}, after {loadAfter}");
if (Arg("--plot", "") is { Length: > 0 } png) Plot(png);
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "resnet_speedup", model = "resnet18", input = "1x3x224x224", threads, rounds,
    mac_ratio = Math.Round(aware.MacsRatio, 4), min_layer_ratio = Math.Round(aware.MinKeepRatio, 4), round_to = roundTo,
    measured_candidates = candidates.Count, refine_steps = refineSteps,
    mac_ratio_inference_form = Math.Round(awareForm.MacsRatio, 4), min_layer_ratio_inference_form = Math.Round(awareForm.MinKeepRatio, 4),
    speedup_same_format = Math.Round(same[0] / same[1], 3),
    speedup_inference_form = Math.Round(folded[0] / folded[1], 3),
    original_channels_last_unfolded_ms = Math.Round(channelsLastOnlyMs, 2),
    speedup_inference_form_vs_unfolded_original = Math.Round(channelsLastOnlyMs / folded[1], 3),
    inference_candidates = formCandidates.Count,
    uniform_mac_ratio = Math.Round(uniform.MacsRatio, 4),
    uniform_speedup = Math.Round(same[0] / same[2], 3),
    uniform_speedup_inference_form = Math.Round(folded[0] / folded[2], 3),
    predicted_speedup = Math.Round(aware.PredictedSpeedup ?? 0, 3),
    predicted_uniform_speedup = Math.Round(uniform.PredictedSpeedup ?? 0, 3),
    prediction_error_constant_rest = Math.Round(Error(predictedConstant), 4),
    prediction_error_scaled_rest = Math.Round(Error(predictedScaled), 4),
    original_ms = Math.Round(same[0], 2), pruned_ms = Math.Round(same[1], 2),
    original_inference_ms = Math.Round(folded[0], 2), pruned_inference_ms = Math.Round(folded[1], 2),
    layouts = reports.Select(r => r.Layout.ToString()).ToArray(),
    layout_gain_original = Math.Round(reports[0].LayoutGain ?? 0, 3),
    table_seconds = Math.Round(table.MeasureSeconds, 1), table_load = table.LoadAverage, table_quantile = tableOptions.Quantile,
    group_keep = aware.KeptChannels,
    frontier_inference_form = frontier.Select((a, i) => new { mac_ratio = Math.Round(a.MacsRatio, 4), speedup = Math.Round(frontierMs[0] / frontierMs[i + 1], 3) }).ToArray(),
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

nn.Module<Tensor, Tensor> Inference(nn.Module<Tensor, Tensor> model)
{
    InferenceForm.Apply(model, shape, new InferenceFormOptions());
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
    AlternatingTimer.ForwardMs(models, shape, rounds, callsPerRound: 3, warmupRounds: 3);

// Speedup against MACs: the models timed as they are, and the latency-aware frontier in inference form.
void Plot(string path)
{
    var plot = new ScottPlot.Plot();
    ChannelAllocation?[] sameModels = [null, .. allocations];
    var asIs = plot.Add.ScatterPoints(sameModels.Select(a => a?.MacsRatio ?? 1).ToArray(), same.Select(s => same[0] / s).ToArray());
    asIs.LegendText = "as trained (latency-aware and uniform, several budgets)";
    asIs.MarkerSize = 9;
    for (int i = 0; i < names.Length; i++)
        plot.Add.Text(names[i], sameModels[i]?.MacsRatio ?? 1, same[0] / same[i]).LabelFontSize = 10;
    if (frontier.Count > 0)
    {
        var form = plot.Add.Scatter(frontier.Select(a => a.MacsRatio).Append(awareForm.MacsRatio).ToArray(),
            frontierMs.Skip(1).Select(ms => frontierMs[0] / ms).Append(folded[0] / folded[1]).ToArray());
        form.LegendText = "latency-aware, inference form (BatchNorm folded, channels-last)";
        form.LineWidth = 2;
        form.MarkerSize = 9;
    }
    var target = plot.Add.HorizontalLine(2.5);
    target.LinePattern = ScottPlot.LinePattern.Dashed;
    target.LegendText = "2.5x";
    plot.Title("resnet18, batch 1: speedup against Conv/Linear MACs (every layer >= 0.5 of its width)");
    plot.XLabel("MACs after / before");
    plot.YLabel("speedup over the original in the same form");
    plot.ShowLegend(ScottPlot.Edge.Bottom);
    plot.Axes.Margins(0.1, 0.15);
    plot.Axes.AutoScale();
    plot.SavePng(path, 1000, 620);
    Console.WriteLine($"plot: {path}");
}

static string Load() =>
    File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "unknown";
