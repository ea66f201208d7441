using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Trainer.Benchmarks.LoopOverhead;

/// <summary>One alternately measured pair of rounds.</summary>
internal sealed record Pair(int Index, string Order, RoundResult Trainer, RoundResult Plain)
{
    public double Ratio => Trainer.SamplesPerSecond / Plain.SamplesPerSecond;
}

/// <summary>Formats the results: a plain text table, then one JSON line (always the last line).</summary>
internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        if (v.Length == 0) return double.NaN;
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }

    public static string Table(IReadOnlyList<Pair> pairs)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Row("pair", "order", "trainer samples/s", "plain samples/s", "ratio", "trainer last loss", "plain last loss"));
        sb.AppendLine(new string('-', 104));
        foreach (var p in pairs)
            sb.AppendLine(Row((p.Index + 1).ToString(Inv), p.Order, F(p.Trainer.SamplesPerSecond, "0.0"), F(p.Plain.SamplesPerSecond, "0.0"),
                F(p.Ratio, "0.0000"), F(p.Trainer.LastLoss, "0.000000"), F(p.Plain.LastLoss, "0.000000")));
        sb.AppendLine(new string('-', 104));
        sb.Append(Row("median", "", F(Median(pairs.Select(p => p.Trainer.SamplesPerSecond)), "0.0"),
            F(Median(pairs.Select(p => p.Plain.SamplesPerSecond)), "0.0"), F(Median(pairs.Select(p => p.Ratio)), "0.0000"), "", ""));
        return sb.ToString();
    }

    public static string Json(BenchOptions o, IReadOnlyList<Pair> pairs, double peakRssMiB, string loadBefore, string loadAfter)
    {
        var payload = new Dictionary<string, object?>
        {
            ["bench"] = "loop_overhead",
            ["steps"] = o.Steps,
            ["batch_size"] = BenchOptions.BatchSize,
            ["rounds"] = o.Rounds,
            ["threads"] = o.Threads,
            ["warmup_steps"] = o.WarmupSteps,
            ["trainer_samples_per_s"] = Round(Median(pairs.Select(p => p.Trainer.SamplesPerSecond)), 1),
            ["plain_samples_per_s"] = Round(Median(pairs.Select(p => p.Plain.SamplesPerSecond)), 1),
            ["ratio"] = Round(Median(pairs.Select(p => p.Ratio)), 4),
            ["losses_match"] = pairs.All(p => Math.Abs(p.Trainer.LastLoss - p.Plain.LastLoss) < 1e-4),
            ["peak_rss_mib"] = Round(peakRssMiB, 0),
            ["loadavg_before"] = loadBefore,
            ["loadavg_after"] = loadAfter,
            ["pairs"] = pairs.Select(p => new Dictionary<string, object>
            {
                ["order"] = p.Order,
                ["trainer"] = Round(p.Trainer.SamplesPerSecond, 1),
                ["plain"] = Round(p.Plain.SamplesPerSecond, 1),
                ["ratio"] = Round(p.Ratio, 4),
            }).ToList(),
        };
        return JsonSerializer.Serialize(payload);
    }

    /// <summary>Peak resident set (VmHWM of /proc/self/status) in MiB, or NaN where /proc is missing.</summary>
    public static double PeakRssMiB()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return double.NaN;
        var line = File.ReadLines(path).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        var kib = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
        return long.TryParse(kib, NumberStyles.Integer, Inv, out var k) ? k / 1024.0 : double.NaN;
    }

    /// <summary>The three load averages of /proc/loadavg, or "n/a".</summary>
    public static string LoadAverage()
    {
        const string path = "/proc/loadavg";
        if (!File.Exists(path)) return "n/a";
        return string.Join(' ', File.ReadAllText(path).Split(' ').Take(3));
    }

    private static double Round(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : -1;

    private static string F(double value, string format) => value.ToString(format, Inv);

    private static string Row(params string[] cells)
    {
        int[] widths = [6, 6, 18, 16, 8, 18, 16];
        return string.Join("  ", cells.Select((c, i) => i < 2 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]))).TrimEnd();
    }
}
