using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>
/// Makes a search resumable: every policy scored is appended to a journal (JSON lines) as soon as its score is known, and
/// a policy already in the journal is answered from it instead of pruning and scoring a copy again. The searches are
/// seeded and deterministic, so a search killed at any point and run again with the same settings walks the same trials,
/// takes the finished ones from the journal in moments, continues from the first unfinished one, and ends with the same
/// policy. The journal's first line is the search's fingerprint: a journal of other settings is refused.
/// </summary>
public sealed class JournaledPolicyScorer : IPolicyScorer
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly IPolicyScorer inner;
    private readonly string path;
    private readonly Dictionary<string, PolicyScore> scored = new(StringComparer.Ordinal);
    private readonly ILogger logger;

    /// <summary>Opens (or starts) the journal at <paramref name="journalPath"/> for the search <paramref name="fingerprint"/> describes.</summary>
    /// <param name="inner">The real scorer, called for policies not in the journal.</param>
    /// <param name="journalPath">The journal file (e.g. trials.jsonl in the search's folder).</param>
    /// <param name="fingerprint">Everything the scores depend on (model, weights, data, method, seed, budget), as one line.</param>
    /// <param name="logger">Receives a note on the trials taken from the journal and on a torn last line.</param>
    /// <exception cref="InvalidDataException">The journal belongs to another search, or a line other than the last is damaged.</exception>
    public JournaledPolicyScorer(IPolicyScorer inner, string journalPath, string fingerprint, ILogger? logger = null)
    {
        this.inner = inner ?? throw new ArgumentNullException(nameof(inner));
        ArgumentException.ThrowIfNullOrEmpty(journalPath);
        ArgumentException.ThrowIfNullOrEmpty(fingerprint);
        path = journalPath;
        this.logger = logger ?? NullLogger.Instance;
        Load(fingerprint);
    }

    /// <summary>Policies the journal held when it was opened.</summary>
    public int Journaled { get; private set; }

    /// <summary>Scores answered from the journal (or from an earlier identical policy of this run).</summary>
    public int Replayed { get; private set; }

    /// <summary>Policies scored by the real scorer in this run.</summary>
    public int Scored { get; private set; }

    /// <inheritdoc />
    public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(keptChannels);
        var key = Key(keptChannels);
        if (scored.TryGetValue(key, out var known))
        {
            Replayed++;
            return known;
        }
        var score = inner.Score(keptChannels);
        Record(key, score);
        return score;
    }

    /// <summary>Answers the batch's journaled policies from the journal and sends the rest (each distinct policy once) to the
    /// real scorer as one batch, journaling each of their scores.</summary>
    public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var keys = policies.Select(Key).ToList();
        var fresh = Enumerable.Range(0, policies.Count).Where(i => !scored.ContainsKey(keys[i])).DistinctBy(i => keys[i]).ToList();
        Replayed += policies.Count - fresh.Count;
        if (fresh.Count > 0)
        {
            var scores = inner.ScoreAll(fresh.Select(i => policies[i]).ToList());
            for (int j = 0; j < fresh.Count; j++) Record(keys[fresh[j]], scores[j]);
        }
        return keys.Select(k => scored[k]).ToList();
    }

    private void Record(string key, PolicyScore score)
    {
        scored[key] = score;
        Scored++;
        // One line per trial, flushed to the disk before the search goes on: a kill loses at most the trials being scored.
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new Entry(key, score.Score, score.Parameters), Json) + "\n");
        IO.WriteKillSwitch.DuringAppend(path, stream, line);
        stream.Write(line);
        stream.Flush(flushToDisk: true);
    }

    private void Load(string fingerprint)
    {
        var header = JsonSerializer.Serialize(new Header(fingerprint), Json);
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            IO.AtomicFile.WriteAllText(path, header + "\n");
            return;
        }
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0] != header)
            throw new InvalidDataException($"The search journal '{path}' belongs to a search of other settings (model, data, method, seed or budget); " +
                                           "delete it to search again from the start, or choose another --Trainer:RunName.");
        for (int i = 1; i < lines.Length; i++)
        {
            Entry? entry = null;
            try
            {
                entry = JsonSerializer.Deserialize<Entry>(lines[i], Json);
            }
            catch (JsonException) when (i == lines.Length - 1)
            {
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"The search journal '{path}' is damaged at line {i + 1}: {e.Message}", e);
            }
            if (entry is null || entry.Kept.Length == 0)
            {
                // The last line of a killed search may be torn: dropped, and its trial scored again.
                logger.LogWarning("The last line of the search journal '{Path}' is incomplete (the search was stopped while writing it); that trial is scored again.", path);
                File.WriteAllLines(path, lines[..i]);
                break;
            }
            scored[entry.Kept] = new PolicyScore(entry.Score, entry.Parameters);
        }
        Journaled = scored.Count;
        if (Journaled > 0) logger.LogInformation("Resuming the search: {Count} scored trial(s) in '{Path}' are taken from the journal.", Journaled, path);
    }

    private static string Key(IReadOnlyDictionary<string, int> kept) =>
        string.Join(";", kept.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key}={k.Value}"));

    private sealed record Header(string Fingerprint);

    private sealed record Entry(string Kept, double Score, long? Parameters);
}
