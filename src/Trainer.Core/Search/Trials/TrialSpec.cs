using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Trainer.Core.IO;

namespace Trainer.Core.Search.Trials;

/// <summary>
/// What one trial needs, as a JSON file a fresh process can run: kind "policy-score" scores <see cref="Policy"/> (group id →
/// kept count) on the model, task and held-out data that <see cref="Config"/> (the run's configuration values, flattened
/// "Section:Key" → value) builds, and must refuse to run when what that configuration loads does not match
/// <see cref="Fingerprint"/> (the search's fingerprint: weights hash, task, data, settings). Kind "finetuned-policy-score"
/// (a NetAdapt candidate) prunes <see cref="Base"/> instead of the loaded model, finetunes the copy briefly and scores it;
/// kind "sensitivity-shard" runs <see cref="Shard"/>'s sweeps of a sensitivity analysis (its policy is empty).
/// </summary>
/// <param name="Format">Always <see cref="FormatName"/>: says what the file is.</param>
/// <param name="Version">The oldest format version that holds everything the spec uses: 1 for a policy-score spec (so its text,
/// and the hash naming its result, are those version 1 wrote), 2 for a spec with a <see cref="Base"/> or a <see cref="Shard"/>. A reader takes 1 to
/// <see cref="CurrentVersion"/>.</param>
/// <param name="Kind">What the trial does: <see cref="PolicyScoreKind"/>, <see cref="FinetunedPolicyScoreKind"/> or <see cref="SensitivityShardKind"/>.</param>
/// <param name="Fingerprint">The search's fingerprint, which the process that runs the trial recomputes and compares.</param>
/// <param name="Config">The configuration values that rebuild the model, task and held-out data, sorted by key.</param>
/// <param name="WorkingDirectory">The folder relative paths in <see cref="Config"/> are relative to, or null.</param>
/// <param name="Policy">Group id → kept channels, sorted by id.</param>
/// <param name="RoundTo">Channel multiple the model editor rounds kept counts to.</param>
/// <param name="Base">The model a finetuned candidate is pruned from (its weights file, edits and finetuning); null (and absent
/// from the JSON) for a policy-score spec.</param>
/// <param name="Shard">The sweeps a sensitivity-shard spec runs; null (and absent from the JSON) for the other kinds.</param>
public sealed record TrialSpec(
    string Format, int Version, string Kind, string Fingerprint, IReadOnlyDictionary<string, string> Config, string? WorkingDirectory,
    IReadOnlyDictionary<string, int> Policy, int RoundTo,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TrialBase? Base = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Analysis.Sensitivity.SensitivityShard? Shard = null)
{
    /// <summary>The <see cref="Format"/> of every trial spec.</summary>
    public const string FormatName = "trainer-trial-spec";

    /// <summary>The newest version this build writes and reads (it reads every version from 1).</summary>
    public const int CurrentVersion = 2;

    /// <summary>The kind that scores a pruning policy.</summary>
    public const string PolicyScoreKind = "policy-score";

    /// <summary>The kind that prunes <see cref="Base"/> to a policy, finetunes the copy briefly and scores it (a NetAdapt candidate).</summary>
    public const string FinetunedPolicyScoreKind = "finetuned-policy-score";

    /// <summary>The kind that runs a shard of a sensitivity analysis (<see cref="Shard"/>).</summary>
    public const string SensitivityShardKind = "sensitivity-shard";

    /// <summary>A sensitivity-shard spec (version 2): <paramref name="shard"/> on the model, task and data <paramref name="config"/> builds.</summary>
    public static TrialSpec ForShard(string fingerprint, IReadOnlyDictionary<string, string> config, string? workingDirectory,
        Analysis.Sensitivity.SensitivityShard shard)
    {
        ArgumentException.ThrowIfNullOrEmpty(fingerprint);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(shard);
        return new(FormatName, 2, SensitivityShardKind, fingerprint, Sorted(config), workingDirectory, new Dictionary<string, int>(), 1, Shard: shard);
    }

    /// <summary>This spec as a finetuned candidate of <paramref name="trialBase"/> (version 2).</summary>
    public TrialSpec WithBase(TrialBase trialBase)
    {
        ArgumentNullException.ThrowIfNull(trialBase);
        return this with { Version = 2, Kind = FinetunedPolicyScoreKind, Base = trialBase };
    }

    /// <summary>What a trial process loads for this spec, whatever it scores: specs with the same key share a loaded model,
    /// task and data (the policy and the base are per trial).</summary>
    public string LoadKey() => (this with { Version = 1, Kind = PolicyScoreKind, Policy = new Dictionary<string, int>(), RoundTo = 1, Base = null, Shard = null }).Hash();

    /// <summary>A policy-score spec.</summary>
    public static TrialSpec ForPolicy(string fingerprint, IReadOnlyDictionary<string, string> config, string? workingDirectory,
        IReadOnlyDictionary<string, int> policy, int roundTo)
    {
        ArgumentException.ThrowIfNullOrEmpty(fingerprint);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
        return new(FormatName, 1, PolicyScoreKind, fingerprint, Sorted(config), workingDirectory, Sorted(policy), roundTo);
    }

    /// <summary>The spec as JSON; the same spec always gives the same text (keys in ordinal order).</summary>
    public string ToJson() => JsonSerializer.Serialize(this with { Config = Sorted(Config), Policy = Sorted(Policy) }, TrialJson.Options);

    // A Dictionary filled in key order serialises in that order; ordinal, so no culture changes a spec's hash.
    private static Dictionary<string, T> Sorted<T>(IReadOnlyDictionary<string, T> map) =>
        map.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    /// <summary>First 16 hex digits of the SHA-256 of <see cref="ToJson"/>: names the spec's files, so the same trial of a
    /// resumed search finds the result an earlier run left.</summary>
    public string Hash() => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(ToJson())))[..16].ToLowerInvariant();

    /// <summary>Writes the spec to <paramref name="path"/> through a temp file.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

    /// <summary>Reads and checks a spec.</summary>
    /// <exception cref="InvalidTrialSpecException">The file is missing, not JSON, not a trial spec, of another version or kind, or incomplete.</exception>
    public static TrialSpec Load(string path)
    {
        var spec = TrialJson.Read<TrialSpec>(path, "trial spec", message => new InvalidTrialSpecException(message));
        if (spec.Format != FormatName)
            throw new InvalidTrialSpecException($"'{path}' is not a trial spec (format '{spec.Format}', expected '{FormatName}').");
        if (spec.Version is < 1 or > CurrentVersion)
            throw new InvalidTrialSpecException($"The trial spec '{path}' has version {spec.Version}; this build reads versions 1 to {CurrentVersion}. " +
                                                "Write the spec again with this build.");
        if (spec.Kind != PolicyScoreKind && (spec.Kind is not (FinetunedPolicyScoreKind or SensitivityShardKind) || spec.Version < 2))
            throw new InvalidTrialSpecException($"The trial spec '{path}' is of kind '{spec.Kind}' (version {spec.Version}); this build runs " +
                                                $"'{PolicyScoreKind}' (version 1 on), '{FinetunedPolicyScoreKind}' and '{SensitivityShardKind}' (version 2 on).");
        if (spec.Kind == SensitivityShardKind) return CheckedShard(spec, path);
        if (spec.Shard is not null)
            throw new InvalidTrialSpecException($"The trial spec '{path}' is of kind '{spec.Kind}' but names a sensitivity shard; a shard needs kind '{SensitivityShardKind}'.");
        if (string.IsNullOrEmpty(spec.Fingerprint) || spec.Config is null || spec.Policy is null || spec.Policy.Count == 0 || spec.RoundTo < 1)
            throw new InvalidTrialSpecException($"The trial spec '{path}' is incomplete: it needs a fingerprint, a config, a policy of at least one group and roundTo ≥ 1.");
        if ((spec.Kind == FinetunedPolicyScoreKind) != (spec.Base is not null))
            throw new InvalidTrialSpecException(spec.Base is null
                ? $"The trial spec '{path}' is of kind '{FinetunedPolicyScoreKind}' but names no base to prune; it needs 'base' (weights, weightsHash, edits, finetune)."
                : $"The trial spec '{path}' is of kind '{PolicyScoreKind}' but names a base; a base needs kind '{FinetunedPolicyScoreKind}'.");
        if (spec.Base is { } b && (string.IsNullOrEmpty(b.Weights) || string.IsNullOrEmpty(b.WeightsHash) || b.Edits is null || b.Finetune is null))
            throw new InvalidTrialSpecException($"The trial spec '{path}' names an incomplete base: it needs weights, weightsHash, edits and finetune.");
        return spec;
    }

    private static TrialSpec CheckedShard(TrialSpec spec, string path)
    {
        if (string.IsNullOrEmpty(spec.Fingerprint) || spec.Config is null || spec.Base is not null || spec.Policy is { Count: > 0 })
            throw new InvalidTrialSpecException($"The trial spec '{path}' of kind '{SensitivityShardKind}' needs a fingerprint and a config, and no base or policy.");
        if (spec.Shard is not { Layers.Count: > 0, Sparsities.Count: > 0, Pruner.Length: > 0 })
            throw new InvalidTrialSpecException($"The trial spec '{path}' of kind '{SensitivityShardKind}' needs a shard with layers, sparsities and a pruner.");
        return spec with { Policy = spec.Policy ?? new Dictionary<string, int>() };
    }
}

/// <summary>What a trial produced, written by the process that ran it (a temp file renamed into place).</summary>
/// <param name="Format">Always <see cref="FormatName"/>.</param>
/// <param name="Version">Always <see cref="CurrentVersion"/>.</param>
/// <param name="SpecHash">The <see cref="TrialSpec.Hash"/> of the spec it answers, so a result is never read for another spec.</param>
/// <param name="Score">The policy's score, higher is better (a lower-is-better task score negated), exact as a double.</param>
/// <param name="Parameters">Parameters of the pruned copy.</param>
/// <param name="Seconds">Wall time of the trial (model loading excluded when a worker had it cached).</param>
/// <param name="Attempt">Which attempt produced it (1 = the first).</param>
/// <param name="Worker">Host name and process id of the process that ran it.</param>
/// <param name="Metrics">A sensitivity shard's metrics (layer, sparsity, metric) in sweep order; null (absent from the JSON) for
/// the other kinds. Its <paramref name="Score"/> is the baseline it was given.</param>
public sealed record TrialResult(string Format, int Version, string SpecHash, double Score, long? Parameters, double Seconds, int Attempt, string Worker,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<Analysis.Sensitivity.SensitivityPoint>? Metrics = null)
{
    /// <summary>The <see cref="Format"/> of every trial result.</summary>
    public const string FormatName = "trainer-trial-result";

    /// <summary>The version of the result format (unchanged when the spec format grew to version 2).</summary>
    public const int CurrentVersion = 1;

    /// <summary>A result of this version.</summary>
    public static TrialResult Of(TrialSpec spec, PolicyScore score, double seconds, int attempt) =>
        new(FormatName, CurrentVersion, spec.Hash(), score.Score, score.Parameters, seconds, attempt,
            $"{Environment.MachineName}:{Environment.ProcessId}");

    /// <summary>The result of a sensitivity shard: its metrics, its score the shard's baseline.</summary>
    public static TrialResult OfShard(TrialSpec spec, IReadOnlyList<Analysis.Sensitivity.SensitivityPoint> metrics, double seconds, int attempt)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var shard = spec.Shard ?? throw new ArgumentException("the spec is not a sensitivity shard", nameof(spec));
        return new(FormatName, CurrentVersion, spec.Hash(), shard.Baseline, null, seconds, attempt, $"{Environment.MachineName}:{Environment.ProcessId}", [.. metrics]);
    }

    /// <summary>The score as the searches take it.</summary>
    public PolicyScore ToPolicyScore() => new(Score, Parameters);

    /// <summary>Writes the result to <paramref name="path"/> through a temp file: a result file that exists is whole.</summary>
    public void Save(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, TrialJson.Options));

    /// <summary>Reads a result and checks it answers <paramref name="spec"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a result of this version, or answers another spec.</exception>
    public static TrialResult Load(string path, TrialSpec spec)
    {
        var result = TrialJson.Read<TrialResult>(path, "trial result", message => new InvalidDataException(message));
        if (result.Format != FormatName || result.Version != CurrentVersion)
            throw new InvalidDataException($"'{path}' is not a trial result of version {CurrentVersion} (format '{result.Format}', version {result.Version}).");
        if (result.SpecHash != spec.Hash())
            throw new InvalidDataException($"The trial result '{path}' answers another spec (hash {result.SpecHash}, expected {spec.Hash()}).");
        return result;
    }
}

/// <summary>A spec that cannot run here: unreadable, of another version or kind, or made for another model, task or data.
/// Retrying it does not help, so runners report it at once.</summary>
public sealed class InvalidTrialSpecException(string message) : Exception(message);

internal static class TrialJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
    };

    public static T Read<T>(string path, string what, Func<string, Exception> error)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw error($"The {what} '{path}' cannot be read: {e.Message}");
        }
        try
        {
            return JsonSerializer.Deserialize<T>(text, Options) ?? throw error($"The {what} '{path}' is empty (null).");
        }
        catch (JsonException e)
        {
            throw error($"The {what} '{path}' is not valid JSON: {e.Message}");
        }
    }
}
