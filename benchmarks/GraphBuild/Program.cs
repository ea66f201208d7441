using System.Diagnostics;
using System.Text.Json;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using TorchSharp;

// Graph-build time of TorchVision models at 1x3x224x224, measured in rounds that alternate a build and
// plain eval forwards of the same model, so the ratio build/forward is what the machine's drift cannot move.
// Usage: dotnet run -c Release --project benchmarks/GraphBuild -- [--rounds 5] [--threads 2] [model ...]
var rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(int.Parse).FirstOrDefault(5);
var threads = args.SkipWhile(a => a != "--threads").Skip(1).Select(int.Parse).FirstOrDefault(2);
var models = args.Where((a, i) => !a.StartsWith("--") && (i == 0 || !args[i - 1].StartsWith("--"))).ToArray();
if (models.Length == 0) models = ["resnet18", "resnet50", "mobilenet_v2"];
torch.set_num_threads(threads);

var results = new List<object>();
Console.WriteLine($"{"model",-14}{"build ms",10}{"forward ms",12}{"build/forward",15}{"passes",8}{"groups",8}{"problems",10}");
foreach (var name in models)
{
    var entry = ModelCatalog.Get(name);
    var model = entry.Create();
    model.eval();
    ModelGraph.Build(model, entry.DefaultInputShape); // warm-up
    Forward(model, entry.DefaultInputShape);
    var builds = new List<double>();
    var forwards = new List<double>();
    ModelGraph? graph = null;
    for (var r = 0; r < rounds; r++)
    {
        var clock = Stopwatch.StartNew();
        graph = ModelGraph.Build(model, entry.DefaultInputShape);
        builds.Add(clock.Elapsed.TotalMilliseconds);
        forwards.Add(Forward(model, entry.DefaultInputShape));
    }
    double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
    var ratios = builds.Zip(forwards, (b, f) => b / f).ToList();
    var passes = graph!.Producers.Count + 1;
    Console.WriteLine($"{name,-14}{Median(builds),10:0.0}{Median(forwards),12:0.00}{Median(ratios),15:0.0}{passes,8}{graph.Groups.Count,8}{graph.Problems.Count,10}");
    results.Add(new { model = name, build_ms = Math.Round(Median(builds), 1), forward_ms = Math.Round(Median(forwards), 2),
        build_per_forward = Math.Round(Median(ratios), 1), passes, groups = graph.Groups.Count, problems = graph.Problems.Count });
}
Console.WriteLine(JsonSerializer.Serialize(new { bench = "graph_build", rounds, threads, input = "1x3x224x224", models = results }));
return 0;

// Median of 5 plain eval forwards, in ms.
static double Forward(torch.nn.Module<torch.Tensor, torch.Tensor> model, long[] shape)
{
    var times = new List<double>();
    using var scope = torch.NewDisposeScope();
    using var input = torch.randn(shape);
    using var _ = torch.inference_mode();
    for (var i = 0; i < 5; i++)
    {
        var clock = Stopwatch.StartNew();
        model.call(input).Dispose();
        times.Add(clock.Elapsed.TotalMilliseconds);
    }
    return times.Order().ElementAt(2);
}
