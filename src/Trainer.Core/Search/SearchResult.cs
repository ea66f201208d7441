using System.Text.Json;
using System.Text.Json.Serialization;
using Trainer.Core.IO;

namespace Trainer.Core.Search;

/// <summary>One group's decision in a policy.</summary>
/// <param name="Id">The group id (its first producer's path).</param>
/// <param name="Channels">Channels before.</param>
/// <param name="Kept">Channels kept.</param>
public sealed record GroupKeep(string Id, int Channels, int Kept)
{
    /// <summary>Kept over channels before.</summary>
    public double Ratio => (double)Kept / Channels;
}

/// <summary>A searched policy: per-group kept counts, their MACs, and the score and reward they earned.</summary>
/// <param name="Method">"amc", "genetic" or "uniform".</param>
/// <param name="Groups">Every group of the search space in execution order.</param>
/// <param name="Macs">Conv/Linear MACs of the policy (exact).</param>
/// <param name="FullMacs">Conv/Linear MACs before.</param>
/// <param name="Budget">Most MACs the search allowed.</param>
/// <param name="Score">The scorer's score of the pruned copy.</param>
/// <param name="Reward">The reward the search maximised.</param>
public sealed record RatioPolicy(string Method, IReadOnlyList<GroupKeep> Groups, long Macs, long FullMacs, long Budget, double Score, double Reward)
{
    /// <summary>MACs after over MACs before.</summary>
    public double MacsRatio => FullMacs == 0 ? 1 : (double)Macs / FullMacs;

    /// <summary>Group id → kept count.</summary>
    public IReadOnlyDictionary<string, int> KeptChannels => Groups.ToDictionary(g => g.Id, g => g.Kept);

    /// <summary>Group id → kept ratio (what compressors take as GroupKeepRatios).</summary>
    public IReadOnlyDictionary<string, double> GroupKeepRatios => Groups.ToDictionary(g => g.Id, g => g.Ratio);

    internal static RatioPolicy Of(string method, PolicySpace space, IReadOnlyList<int> kept, double score, double reward) =>
        new(method, space.Groups.Select((g, i) => new GroupKeep(g.Id, g.Channels, kept[i])).ToList(), space.MacsOf(kept),
            space.FullMacs, space.Budget, score, reward);
}

/// <summary>One scored trial of a search: an AMC episode or a GA individual.</summary>
/// <param name="Index">Trial number, from 0.</param>
/// <param name="Round">AMC: the episode; GA: the generation.</param>
/// <param name="Reward">The reward.</param>
/// <param name="Score">The scorer's score.</param>
/// <param name="Macs">The policy's MACs.</param>
/// <param name="Kept">Kept count per group, in the space's order.</param>
public sealed record TrialRecord(int Index, int Round, double Reward, double Score, long Macs, IReadOnlyList<int> Kept);

/// <summary>The outcome of a ratio search: the best policy and every trial.</summary>
/// <param name="Best">The policy with the highest reward (the first one on a tie).</param>
/// <param name="History">Every trial in order.</param>
/// <param name="Model">The model the search trained on its way (NetAdapt's last adopted base, AutoCompress's model) beside the
/// result, or null (searches that train nothing; absent from the JSON).</param>
/// <param name="Finalists">The best trials scored again by <see cref="FinalistSelection"/> (their scores and rewards the finalist
/// scorer's), or null when the search chose its best policy by its own reward (absent from the JSON).</param>
public sealed record SearchResult(RatioPolicy Best, IReadOnlyList<TrialRecord> History,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] SearchedModel? Model = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<TrialRecord>? Finalists = null)
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes the result as JSON through a temporary file renamed into place.</summary>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));
    }

    /// <summary>Reads a result written by <see cref="Save"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a search result.</exception>
    public static SearchResult Load(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            return JsonSerializer.Deserialize<SearchResult>(File.ReadAllText(path), Json)
                   ?? throw new InvalidDataException($"{path} holds no search result");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a search result written by SearchResult.Save: {e.Message}", e);
        }
    }
}

/// <summary>Collects trials and keeps the best one.</summary>
internal sealed class TrialLog(string method, PolicySpace space)
{
    private readonly List<TrialRecord> history = [];
    private RatioPolicy? best;

    public RatioPolicy? Best => best;

    public TrialRecord Add(int round, IReadOnlyList<int> kept, double score, double reward)
    {
        var record = new TrialRecord(history.Count, round, reward, score, space.MacsOf(kept), kept.ToArray());
        history.Add(record);
        if (best is null || reward > best.Reward) best = RatioPolicy.Of(method, space, kept, score, reward);
        return record;
    }

    public SearchResult Result() => new(best ?? throw new InvalidOperationException("no trial was run"), history.ToList());
}
