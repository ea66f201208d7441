using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Trainer.Core.Latency;

namespace Trainer.Core.Compression;

/// <summary>
/// What an unfinished compress iteration has decided so far, written (atomically) before the work that follows each
/// decision: the channel allocation before the compressor runs, the measured speed before finetuning. Both may rest on
/// timings, which differ from run to run; a run resumed after a crash replays them from here instead of timing again,
/// so it ends with the model the unbroken run would have made.
/// </summary>
public sealed record IterationJournal
{
    /// <summary>The format tag every journal carries.</summary>
    public const string FormatTag = "trainer.iteration-journal/1";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>Always <see cref="FormatTag"/>.</summary>
    public string Format { get; init; } = FormatTag;

    /// <summary>1-based iteration number.</summary>
    public required int Index { get; init; }

    /// <summary>The MACs target the iteration started with (fraction of the original's); another target decides again.</summary>
    public required double TargetOfOriginal { get; init; }

    /// <summary>The latency target the iteration started with, or null under a MACs target.</summary>
    public double? LatencyTargetOfOriginal { get; init; }

    /// <summary>The allocation decided, or null when the compressor chooses its widths itself.</summary>
    public ChannelAllocation? Allocation { get; init; }

    /// <summary>What timings decided about the allocation (<see cref="AllocationDecision.TimedBy"/>).</summary>
    public IReadOnlyList<string> TimedBy { get; init; } = [];

    /// <summary>The model measured right after the compress step, once measured.</summary>
    public ModelMetrics? AfterCompress { get; init; }

    /// <summary>The speedup measured against the original right after the compress step, once measured.</summary>
    public double? Speedup { get; init; }

    /// <summary>The allocation decision this journal holds.</summary>
    [JsonIgnore]
    public AllocationDecision Decision => new(Allocation, TimedBy);

    /// <summary>"iteration-&lt;index&gt;.journal.json" in <paramref name="checkpointDir"/>.</summary>
    public static string PathFor(string checkpointDir, int index) => Path.Combine(checkpointDir, $"iteration-{index}.journal.json");

    /// <summary>Writes the journal through a temporary file renamed into place.</summary>
    public void Save(string path) => IO.AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    /// <summary>
    /// The journal of iteration <paramref name="index"/> at <paramref name="path"/> when it is there, readable and made for the
    /// same targets; else null. A journal that cannot be used is a warning naming it, and the iteration decides again: it
    /// only replays decisions, so nothing is lost but their reproducibility (which the warning says).
    /// </summary>
    public static IterationJournal? TryLoad(string path, int index, double targetOfOriginal, double? latencyTargetOfOriginal, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (!File.Exists(path)) return null;
        string? problem;
        IterationJournal? journal = null;
        try
        {
            journal = JsonSerializer.Deserialize<IterationJournal>(
                IO.FileBytes.ReadText(path, "Iteration journal", message => new InvalidDataException(message)), Json);
            problem = journal is null ? "it is empty" : journal.Problem(index, targetOfOriginal, latencyTargetOfOriginal);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException or InvalidOperationException)
        {
            problem = e.Message;
        }
        if (problem is null) return journal;
        logger.LogWarning("The journal of iteration {Index}, '{Path}', cannot be replayed ({Problem}): the iteration decides again, " +
                          "so its timed decisions may differ from the interrupted run's", index, path, problem);
        return null;
    }

    private string? Problem(int index, double targetOfOriginal, double? latencyTargetOfOriginal)
    {
        if (Format != FormatTag) return $"expected format '{FormatTag}', found '{Format}'";
        if (Index != index) return $"it is the journal of iteration {Index}";
        // Written from the same doubles the resumed run computes, so equal bit for bit unless the configuration changed.
        if (TargetOfOriginal != targetOfOriginal || LatencyTargetOfOriginal != latencyTargetOfOriginal)
            return "it was made for another target: the configuration changed";
        if (TimedBy is null || TimedBy.Any(string.IsNullOrEmpty)) return "its list of timed decisions is damaged";
        if (Allocation is { } a && (a.KeptChannels is null || a.GroupChannels is null || a.Method is null
            || a.KeptChannels.Any(k => !a.GroupChannels.TryGetValue(k.Key, out var all) || k.Value < 1 || k.Value > all)))
            return "its allocation is damaged";
        if (Speedup is { } s && !(double.IsFinite(s) && s > 0)) return "its measured speedup is damaged";
        return null;
    }
}
