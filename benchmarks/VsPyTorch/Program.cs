using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Benchmarks.VsPyTorch;

// Our default job against the same model and arithmetic in PyTorch (Debian's python3-torch), each run in its
// own process (peak RSS is per process), alternating py,ours / ours,py so drift on a shared machine cancels.
// Usage: dotnet run -c Release --project benchmarks/VsPyTorch -- [--rounds 3] [--steps 300] [--warmup-steps 20]
//        [--threads 2]   (--steps 0 trains one full epoch on each side)
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var settings = Settings.Parse(args);
if (settings.IsWorker) return Worker.Run(settings);

var script = Path.Combine(AppContext.BaseDirectory, "pytorch_side.py");
if (!File.Exists(settings.Python))
{
    Console.Error.WriteLine($"error: {settings.Python} not found; run benchmarks/VsPyTorch/setup-pytorch.sh first.");
    return 1;
}

var self = Environment.ProcessPath!;
var rows = new List<(int Round, JsonObject Py, JsonObject Ours)>();
for (var round = 0; round < settings.Rounds; round++)
{
    JsonObject? py = null, ours = null;
    var order = round % 2 == 0 ? new[] { "py", "ours" } : ["ours", "py"];
    foreach (var side in order)
    {
        if (side == "py") py = RunSide(settings.Python, settings.PythonArgs(script));
        else ours = RunSide(self, settings.WorkerArgs());
    }
    rows.Add((round, py!, ours!));
    Console.Error.WriteLine($"round {round + 1}: pytorch {py!["train_samples_per_s"]} / ours {ours!["train_samples_per_s"]} train samples/s");
}

double Median(IEnumerable<double> xs) { var a = xs.Order().ToArray(); return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
double V(JsonObject o, string k) => o[k]!.GetValue<double>();
var trainRatio = Median(rows.Select(r => V(r.Ours, "train_samples_per_s") / V(r.Py, "train_samples_per_s")));
var evalRatio = Median(rows.Select(r => V(r.Ours, "eval_samples_per_s") / V(r.Py, "eval_samples_per_s")));
var rssRatio = Median(rows.Select(r => V(r.Ours, "peak_rss_mib") / V(r.Py, "peak_rss_mib")));

Console.WriteLine($"{"round",-6}{"side",-9}{"train/s",10}{"eval/s",10}{"peak MiB",10}{"test acc",10}  first losses");
foreach (var (round, py, ours) in rows)
    foreach (var (name, o) in new[] { ("pytorch", py), ("ours", ours) })
        Console.WriteLine($"{round + 1,-6}{name,-9}{V(o, "train_samples_per_s"),10:0.0}{V(o, "eval_samples_per_s"),10:0.0}" +
                          $"{V(o, "peak_rss_mib"),10:0.0}{V(o, "test_accuracy"),10:0.0000}  {o["first_losses"]!.ToJsonString()}");
Console.WriteLine($"median ratios ours/pytorch: train {trainRatio:0.000}, eval {evalRatio:0.000}, peak RSS {rssRatio:0.000}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "vs_pytorch",
    rounds = settings.Rounds, steps = settings.Steps, warmup_steps = settings.WarmupSteps, threads = settings.Threads,
    train_ratio = Math.Round(trainRatio, 3), eval_ratio = Math.Round(evalRatio, 3), peak_rss_ratio = Math.Round(rssRatio, 3),
    first_losses_equal = rows.All(r => r.Py["first_losses"]!.ToJsonString() == r.Ours["first_losses"]!.ToJsonString()),
    runs = rows.Select(r => new { round = r.Round + 1, pytorch = r.Py, ours = r.Ours }),
}));
return 0;

static JsonObject RunSide(string program, string[] arguments)
{
    var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in arguments) start.ArgumentList.Add(a);
    start.Environment["CI"] = "true"; // plain progress lines, no live display
    using var process = Process.Start(start)!;
    var stderr = process.StandardError.ReadToEndAsync();
    var stdout = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{'));
    if (process.ExitCode != 0 || last is null)
        throw new InvalidOperationException($"{Path.GetFileName(program)} failed ({process.ExitCode}): {stderr.Result}{stdout}");
    return JsonNode.Parse(last)!.AsObject();
}
