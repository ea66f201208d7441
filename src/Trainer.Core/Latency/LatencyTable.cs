using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Graph;
using Trainer.Core.IO;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// An additive batch-1 latency model of one model on this machine: predicted time = <see cref="RestMs"/> + the sum over
/// <see cref="Units"/> (each Conv2d/Linear with its BatchNorm and following ReLU/pooling, timed standalone at its real
/// input size over a grid of input and output widths). Measured once per model shape and machine, then cached as JSON.
/// </summary>
/// <remarks>
/// Why a constant rest: the alternative, scaling the rest with the pieces' sum, predicted ResNet-18 allocations between
/// 0.34 and 0.7 of the MACs worse in the four 1-thread runs of benchmarks/ResNetSpeedup (mean error 10-30% against
/// 20-45%; a 2-thread run on an overloaded machine predicted nothing either way): what the pieces leave out (residual
/// adds, the functional ReLU after them, the model's own forward and its dispatch) hardly shrinks with the widths.
/// </remarks>
/// <param name="Key">What the table is valid for.</param>
/// <param name="Units">The timed pieces, in execution order of their producers.</param>
/// <param name="RestMs">The whole model's time minus the pieces' full-width times (residual adds, unpaired layers, overhead).</param>
/// <param name="FullMeasuredMs">The whole model's time in the same measurement (the options' quantile of the rounds).</param>
/// <param name="MeasureSeconds">Wall time the measurement took.</param>
/// <param name="MeasuredAt">When it was measured (UTC).</param>
public sealed record LatencyTable(LatencyTableKey Key, IReadOnlyList<LatencyUnit> Units, double RestMs, double FullMeasuredMs,
    double MeasureSeconds, DateTimeOffset MeasuredAt)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Above this many cores per core busy with other processes the timings of a shared machine are not trustworthy.</summary>
    public const double BusyLoadPerCore = 0.25;

    /// <summary>The machine's 1-minute load average when the measurement started (from /proc/loadavg), or null when unknown.</summary>
    public double? LoadAverage { get; init; }

    /// <summary>Cores other processes kept busy when the measurement started (<see cref="MachineLoad"/>), or null when unknown.</summary>
    public double? OtherBusyCores { get; init; }

    /// <summary>Predicted milliseconds when each group in <paramref name="kept"/> keeps that many channels (others keep all).</summary>
    /// <param name="kept">Allocatable group id → kept channel count.</param>
    public double PredictMs(IReadOnlyDictionary<string, int> kept)
    {
        ArgumentNullException.ThrowIfNull(kept);
        double total = RestMs;
        foreach (var unit in Units)
        {
            int kin = unit.InGroup is { } ig && kept.TryGetValue(ig, out var i) ? i : unit.InCounts[^1];
            int kout = unit.OutGroup is { } og && kept.TryGetValue(og, out var o) ? o : unit.OutCounts[^1];
            total += unit.Predict(kin, kout);
        }
        return total;
    }

    /// <summary>Predicted milliseconds of the model as it is.</summary>
    public double FullPredictedMs => PredictMs(new Dictionary<string, int>());

    /// <summary>
    /// The cached table for this model shape and machine when there is one (logged as reused), else measures one
    /// (logged, about 5-20 s for a ResNet-18 at 224x224) and caches it. The model must be in the form it will run in
    /// (e.g. channels-last weights with <see cref="LatencyTableOptions.Layout"/> ChannelsLast); it is only run, never changed.
    /// </summary>
    /// <param name="model">The model the graph was built from.</param>
    /// <param name="inputShape">Batch-1 input shape, the graph's.</param>
    /// <param name="graph">The model's dependency graph.</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <param name="logger">Receives whether the table was measured or reused.</param>
    /// <exception cref="ArgumentException">Bad options, or an input shape other than the graph's.</exception>
    public static LatencyTable LoadOrMeasure(nn.Module<Tensor, Tensor> model, long[] inputShape, ModelGraph graph,
        LatencyTableOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(graph);
        options ??= new LatencyTableOptions();
        logger ??= NullLogger.Instance;
        options.Validate();
        if (!inputShape.SequenceEqual(graph.InputShape))
            throw new ArgumentException(
                $"input shape [{string.Join(",", inputShape)}] differs from the graph's [{string.Join(",", graph.InputShape)}]; build the graph on the same shape",
                nameof(inputShape));

        var key = LatencyTableKey.For(model.GetType().Name, graph, options);
        var path = Path.Combine(options.CacheDir, key.FileName());
        if (options.UseCache && TryLoad(path, key, logger) is { } cached)
        {
            logger.LogInformation("Latency table reused from {Path} (measured {When:u} at load {Load}, {Threads} threads on {Cpu})",
                path, cached.MeasuredAt, cached.LoadAverage?.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) ?? "unknown",
                key.Threads, key.Cpu);
            return cached;
        }

        logger.LogInformation("Measuring the latency table of {Model} on {Cpu} with {Threads} threads...", key.Model, key.Cpu, key.Threads);
        double? load = CurrentLoad();
        double? others = MachineLoad.OtherBusyCores();
        if (others > BusyLoadPerCore * Environment.ProcessorCount)
            logger.LogWarning(
                "The machine is busy (other processes keep {Others:0.0} of {Cores} cores busy): the latency table will be noisy and the allocation may chase noise; " +
                "measure again on a quiet machine (delete {Path} or set LatencyTableOptions.UseCache=false)", others, Environment.ProcessorCount, path);
        var table = Measure(model, inputShape, graph, options, key) with { LoadAverage = load, OtherBusyCores = others };
        logger.LogInformation(
            "Latency table measured in {Seconds:0.0} s: {Units} pieces, whole model {Full:0.00} ms, additive prediction {Predicted:0.00} ms, rest {Rest:0.00} ms",
            table.MeasureSeconds, table.Units.Count, table.FullMeasuredMs, table.FullPredictedMs, table.RestMs);
        if (options.UseCache)
        {
            try
            {
                AtomicFile.WriteAllText(path, JsonSerializer.Serialize(table, Json));
                logger.LogInformation("Latency table saved to {Path}", path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The cache only saves time: a run is not failed because it cannot be written.
                logger.LogWarning("Latency table could not be cached at {Path} ({Error}); the next run measures again", path, e.Message);
            }
        }
        return table;
    }

    /// <summary>
    /// The table in <paramref name="path"/> when it exists, parses, is consistent and has exactly <paramref name="key"/>; else null.
    /// A cache file that is there but cannot be used (damaged, unreadable, a directory, another model's) is logged as a warning
    /// naming it: the caller measures again rather than failing the run on a file that only saves time.
    /// </summary>
    public static LatencyTable? TryLoad(string path, LatencyTableKey key, ILogger? logger = null)
    {
        logger ??= NullLogger.Instance;
        if (!File.Exists(path) && !Directory.Exists(path)) return null;
        try
        {
            var text = FileBytes.ReadText(path, "Latency table", message => new InvalidDataException(message));
            var table = JsonSerializer.Deserialize<LatencyTable>(text, Json) ?? throw new InvalidDataException("it holds null");
            if (table.Problem() is { } problem) throw new InvalidDataException(problem);
            if (table.Key == key) return table;
            logger.LogWarning("Latency table {Path} is for another model or machine (key {Found}); measuring again", path, table.Key);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException or InvalidOperationException)
        {
            logger.LogWarning("Latency table {Path} is unusable ({Error}); measuring again", path, e.Message);
        }
        return null;
    }

    /// <summary>The first inconsistency of a table read from disk (null fields, grids that do not match their times), or null.</summary>
    private string? Problem()
    {
        if (Key is null || Units is null || Units.Count == 0) return "it has no key or no timed pieces";
        if (!double.IsFinite(RestMs) || !double.IsFinite(FullMeasuredMs)) return "its totals are not finite";
        foreach (var u in Units)
        {
            if (u?.InCounts is not { Length: > 0 } || u.OutCounts is not { Length: > 0 } || u.Ms is null || u.Producer is null)
                return "a piece has no grid";
            if (u.Ms.Length != u.InCounts.Length || u.Ms.Any(row => row is null || row.Length != u.OutCounts.Length))
                return $"the times of '{u.Producer}' do not match its grid";
            if (u.Ms.Any(row => row.Any(ms => !double.IsFinite(ms) || ms < 0))) return $"a time of '{u.Producer}' is not a duration";
            if (!Ascending(u.InCounts) || !Ascending(u.OutCounts)) return $"the widths of '{u.Producer}' are not ascending";
        }
        return null;

        static bool Ascending(int[] counts) => counts[0] > 0 && counts.Zip(counts.Skip(1)).All(p => p.First < p.Second);
    }

    /// <summary>The 1-minute load average, or null where /proc/loadavg does not exist.</summary>
    private static double? CurrentLoad()
    {
        try
        {
            return File.Exists("/proc/loadavg")
                ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)
                : null;
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return null;
        }
    }

    private static LatencyTable Measure(nn.Module<Tensor, Tensor> model, long[] inputShape, ModelGraph graph, LatencyTableOptions options,
        LatencyTableKey key)
    {
        var clock = Stopwatch.StartNew();
        var groups = AllocatableGroup.Of(graph);
        var pieces = LatencyPiece.Plan(model, graph, groups, options);
        var (grids, fullMs) = LatencyMeasurer.Measure(model, inputShape, pieces, options);
        var units = pieces.Select(p => new LatencyUnit(p.Producer.Name,
            [p.Producer.Name, .. p.NormName is null ? Array.Empty<string>() : [p.NormName], .. p.Trailing.Select(t => t.Name)],
            p.InGroup?.Id, p.OutGroup?.Id, p.InCounts, p.OutCounts,
            grids[p.Signature].Select(row => row.ToArray()).ToArray())).ToList();
        double rest = fullMs - units.Sum(u => u.FullMs);
        return new LatencyTable(key, units, rest, fullMs, clock.Elapsed.TotalSeconds, DateTimeOffset.UtcNow);
    }
}
