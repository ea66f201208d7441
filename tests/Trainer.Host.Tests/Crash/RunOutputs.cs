using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Trainer.Host.Tests.Crash;

/// <summary>
/// What a finished `trainer run` leaves under one root (its Trainer:CheckpointDir and Trainer:LogDir), in a form two runs on
/// one machine can be compared in: JSON with its timings removed and its paths made relative to the root, SHA-256 of the
/// binary results, every reported accuracy, and the temporary files left.
/// </summary>
internal sealed partial class RunOutputs
{
    /// <summary>JSON properties that are timings (milliseconds, speedups measured as ratios of them, throughput): removed
    /// before comparing, as two runs time differently on a shared machine. Nothing else is left out.</summary>
    public static readonly IReadOnlySet<string> TimingFields = new HashSet<string>(StringComparer.Ordinal)
    {
        "latency_ms",              // manifests (original, after_compress, after_finetune)
        "LatencyMs",               // compress summary.json (original, compressed: the metrics record as it is)
        "Speedup",                 // iteration journals (the speedup measured right after the compress step)
        "speedup",                 // manifests (each iteration, timed alternately) and export summary.json
        "latency_speedup",         // compress summary.json
        "latency_ms_before",       // export summary.json
        "latency_ms_after",        // export summary.json
        "samples_per_second",      // throughput, should a report carry it
    };

    /// <summary>The timing inside the inference-form step's summary text, e.g. " (1.81x channels-last over contiguous)"
    /// (absent when the layout was replayed rather than timed).</summary>
    [GeneratedRegex(@" \(\d+(\.\d+)?x channels-last over contiguous\)")]
    private static partial Regex TimedLayoutText();

    private static readonly string[] Hashed = [".weights", ".trnq", ".ckpt"];

    /// <summary>Reads the outputs under <paramref name="root"/>.</summary>
    public RunOutputs(string root)
    {
        Root = Path.GetFullPath(root);
        foreach (var file in Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var relative = Path.GetRelativePath(Root, file);
            var name = Path.GetFileName(file);
            if (name.Contains(".tmp", StringComparison.Ordinal)) Temps.Add(relative);
            // TensorBoard event files are named by time and process, and a resumed run starts new ones: not results.
            if (name.StartsWith("events.out.tfevents.", StringComparison.Ordinal)) continue;
            Files.Add(relative);
            if (Hashed.Contains(Path.GetExtension(name))) Hashes[relative] = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            if (name.EndsWith(".json", StringComparison.Ordinal) && JsonNode.Parse(File.ReadAllText(file)) is { } json)
            {
                Json[relative] = Normalize(json).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
                CollectAccuracies(relative, "", json);
            }
        }
    }

    /// <summary>The folder read.</summary>
    public string Root { get; }

    /// <summary>Every file but TensorBoard event files, relative to the root.</summary>
    public List<string> Files { get; } = [];

    /// <summary>SHA-256 of every weights, quantized and checkpoint file (best.ckpt, last.ckpt), by relative path.</summary>
    public SortedDictionary<string, string> Hashes { get; } = new(StringComparer.Ordinal);

    /// <summary>Every JSON file (manifests, summary.json, records) with <see cref="TimingFields"/> removed and the root in paths
    /// replaced by "&lt;root&gt;", by relative path.</summary>
    public SortedDictionary<string, string> Json { get; } = new(StringComparer.Ordinal);

    /// <summary>Every number whose property name contains "accuracy" or "score" (any case) in any JSON file, keyed "file#path".</summary>
    public SortedDictionary<string, double> Accuracies { get; } = new(StringComparer.Ordinal);

    /// <summary>Files with ".tmp" in their name, relative to the root: none may be left.</summary>
    public List<string> Temps { get; } = [];

    /// <summary>One line per difference from <paramref name="expected"/>; empty when the runs ended the same.</summary>
    public List<string> DifferencesFrom(RunOutputs expected)
    {
        var differences = new List<string>();
        foreach (var f in expected.Files.Except(Files)) differences.Add($"missing file: {f}");
        foreach (var f in Files.Except(expected.Files)) differences.Add($"extra file: {f}");
        foreach (var (file, hash) in expected.Hashes)
            if (Hashes.TryGetValue(file, out var mine) && mine != hash) differences.Add($"SHA-256 of {file}: {mine} instead of {hash}");
        foreach (var (key, value) in expected.Accuracies)
            if (Accuracies.TryGetValue(key, out var mine) && !mine.Equals(value)) differences.Add($"accuracy {key}: {mine:R} instead of {value:R}");
        foreach (var (file, text) in expected.Json)
            if (Json.TryGetValue(file, out var mine) && mine != text)
                differences.AddRange(LineDifferences(text, mine).Select(d => $"{file} differs: {d}"));
        return differences;
    }

    private JsonNode Normalize(JsonNode node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(p => p.Key).ToList())
                {
                    if (TimingFields.Contains(key)) o.Remove(key);
                    else if (o[key] is { } child) o[key] = Normalize(child.DeepClone());
                }
                return o;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                    if (a[i] is { } item) a[i] = Normalize(item.DeepClone());
                return a;
            case JsonValue v when v.TryGetValue<string>(out var text):
                return JsonValue.Create(TimedLayoutText().Replace(text.Replace(Root, "<root>"), ""));
            default:
                return node;
        }
    }

    private void CollectAccuracies(string file, string path, JsonNode node)
    {
        if (node is JsonObject o)
            foreach (var (key, child) in o)
            {
                if (child is null) continue;
                if ((key.Contains("accuracy", StringComparison.OrdinalIgnoreCase) || key.Contains("score", StringComparison.OrdinalIgnoreCase))
                    && child is JsonValue v)
                    Accuracies[$"{file}#{path}/{key}"] = v.TryGetValue<double>(out var d) ? d : double.NaN;
                else CollectAccuracies(file, $"{path}/{key}", child);
            }
        else if (node is JsonArray a)
            for (var i = 0; i < a.Count; i++)
                if (a[i] is { } item) CollectAccuracies(file, $"{path}[{i}]", item);
    }

    /// <summary>Every differing line of two indented JSON texts of the same shape, both versions; where the shapes differ, the
    /// first line from which they do.</summary>
    private static IEnumerable<string> LineDifferences(string expected, string actual)
    {
        var e = expected.Split('\n');
        var a = actual.Split('\n');
        for (var i = 0; i < Math.Max(e.Length, a.Length); i++)
        {
            var x = i < e.Length ? e[i].Trim() : "<end>";
            var y = i < a.Length ? a[i].Trim() : "<end>";
            if (x == y) continue;
            yield return $"line {i + 1}: expected {x} but got {y}";
            if (Shape(x) != Shape(y)) yield break;     // lines after an insertion or removal would all differ
        }

        static string Shape(string line) => line.Split(':')[0];
    }
}
