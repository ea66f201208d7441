using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search.Trials;

/// <summary>
/// Scores policies as trials: <see cref="ScoreAll"/> writes one spec file per policy of the batch into the trial folder, hands
/// the batch to the runner (in process, a local pool of workers, a cluster) and reads the result files back. Files are named by
/// the spec's hash, so a policy scored before (a resumed search, a repeated policy) finds its result in place and is not run
/// again, and a result is never read for another spec.
/// </summary>
public sealed class TrialPolicyScorer : IPolicyScorer
{
    private readonly ITrialRunner runner;
    private readonly string folder;
    private readonly Func<IReadOnlyDictionary<string, int>, TrialSpec> specFor;
    private readonly ILogger logger;

    /// <summary>A scorer that runs its trials on <paramref name="runner"/> with spec and result files in <paramref name="folder"/>.</summary>
    /// <param name="runner">Runs each batch.</param>
    /// <param name="folder">Where specs and results go (shared with the workers or nodes that run them).</param>
    /// <param name="specFor">The spec of a policy (everything but the policy is the same for a whole search).</param>
    /// <param name="logger">Receives a line per batch.</param>
    public TrialPolicyScorer(ITrialRunner runner, string folder, Func<IReadOnlyDictionary<string, int>, TrialSpec> specFor, ILogger? logger = null)
    {
        this.runner = runner ?? throw new ArgumentNullException(nameof(runner));
        ArgumentException.ThrowIfNullOrEmpty(folder);
        this.folder = Path.GetFullPath(folder);
        this.specFor = specFor ?? throw new ArgumentNullException(nameof(specFor));
        this.logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Trials the runner ran (each distinct spec once).</summary>
    public int Ran { get; private set; }

    /// <summary>Policies answered from a result file already in the folder.</summary>
    public int Reused { get; private set; }

    /// <summary>Batches handed to the runner.</summary>
    public int Batches { get; private set; }

    /// <summary>The spec and result files of <paramref name="spec"/> in this scorer's folder.</summary>
    public TrialFiles FilesOf(TrialSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var hash = spec.Hash();
        return new TrialFiles(Path.Combine(folder, $"trial-{hash}.json"), Path.Combine(folder, $"trial-{hash}.result.json"));
    }

    /// <inheritdoc />
    public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) => ScoreAll([keptChannels])[0];

    /// <inheritdoc />
    /// <exception cref="TrialFailedException">A trial failed its last attempt; the message names each by index with its error.</exception>
    public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        var specs = policies.Select(specFor).ToList();
        var files = specs.Select(FilesOf).ToList();
        var results = new TrialResult?[specs.Count];
        var pending = new List<int>();
        var queued = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < specs.Count; i++)
        {
            results[i] = Existing(files[i].ResultPath, specs[i]);
            if (results[i] is not null) Reused++;
            else if (queued.Add(files[i].SpecPath)) pending.Add(i);
        }
        if (pending.Count > 0)
        {
            Directory.CreateDirectory(folder);
            foreach (int i in pending) specs[i].Save(files[i].SpecPath);
            var started = DateTime.UtcNow;
            var outcomes = runner.Run(pending.Select(i => files[i]).ToList());
            Batches++;
            Ran += pending.Count;
            var failed = outcomes.Where(o => !o.Succeeded).ToList();
            if (outcomes.Count != pending.Count)
                throw new InvalidOperationException($"the trial runner returned {outcomes.Count} outcomes for {pending.Count} trials");
            if (failed.Count > 0)
                throw new TrialFailedException(failed.Select(o => (o with { Index = pending[o.Index] }, files[pending[o.Index]].SpecPath)).ToList());
            logger.LogDebug("Trial batch of {Count} ran in {Seconds:0.0} s ({Retried} retried).", pending.Count,
                (DateTime.UtcNow - started).TotalSeconds, outcomes.Count(o => o.Attempts > 1));
        }
        return Enumerable.Range(0, specs.Count).Select(i => (results[i] ?? TrialResult.Load(files[i].ResultPath, specs[i])).ToPolicyScore()).ToList();
    }

    /// <summary>A whole result of this spec already in place (left by an earlier run), or null.</summary>
    private TrialResult? Existing(string path, TrialSpec spec)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return TrialResult.Load(path, spec);
        }
        catch (InvalidDataException e)
        {
            logger.LogWarning("Ignoring the trial result '{Path}' ({Problem}); the trial runs again.", path, e.Message);
            File.Delete(path);
            return null;
        }
    }
}

/// <summary>Trials of a batch that failed their last attempt.</summary>
public sealed class TrialFailedException : Exception
{
    /// <summary>The failures: each outcome (its index in the batch of policies) and its spec file.</summary>
    public IReadOnlyList<(TrialOutcome Outcome, string SpecPath)> Failures { get; }

    /// <summary>An exception naming every failed trial.</summary>
    public TrialFailedException(IReadOnlyList<(TrialOutcome Outcome, string SpecPath)> failures)
        : base($"{failures.Count} trial(s) failed: " + string.Join("; ", failures.Select(f =>
            $"trial {f.Outcome.Index} ('{f.SpecPath}') after {f.Outcome.Attempts} attempt(s): {f.Outcome.Error}")) +
            ". Run one by hand with `trainer trial <spec> --result <file>` to see it fail.")
        => Failures = failures;
}
