using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Search.Trials;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Runs a sensitivity analysis' shards as trials: one spec file per shard (<see cref="TrialSpec.ForShard"/>) in a folder, the
/// batch handed to a runner (in process, a local pool of workers, a cluster), the results' metrics put back together in shard
/// order (<see cref="TaskSensitivity.Assemble"/>). Files are named by the spec's hash, so a shard whose result is already in the
/// folder (an interrupted analysis run again) is not run again.
/// </summary>
public sealed class SensitivityTrials(ITrialRunner runner, string folder, ILogger? logger = null)
{
    private readonly ITrialRunner runner = runner ?? throw new ArgumentNullException(nameof(runner));
    private readonly string folder = Path.GetFullPath(folder ?? throw new ArgumentNullException(nameof(folder)));
    private readonly ILogger logger = logger ?? NullLogger.Instance;

    /// <summary>Shards the runner ran (the others were answered by results already in the folder).</summary>
    public int Ran { get; private set; }

    /// <summary>Runs <paramref name="specs"/> (sensitivity shards of one analysis, in model order) and returns the analysis' result.</summary>
    /// <exception cref="TrialFailedException">A shard failed its last attempt; the message names each by index.</exception>
    public SensitivityResult Run(IReadOnlyList<TrialSpec> specs, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(specs);
        if (specs.Count == 0) throw new ArgumentException("an analysis has at least one shard", nameof(specs));
        var shards = specs.Select(s => s.Shard ?? throw new ArgumentException($"the spec {s.Hash()} is not a sensitivity shard", nameof(specs))).ToList();
        var files = specs.Select(s => new TrialFiles(Path.Combine(folder, $"shard-{s.Hash()}.json"), Path.Combine(folder, $"shard-{s.Hash()}.result.json"))).ToList();
        Directory.CreateDirectory(folder);
        var pending = Enumerable.Range(0, specs.Count).Where(i => !Whole(files[i].ResultPath, specs[i])).ToList();
        foreach (int i in pending) specs[i].Save(files[i].SpecPath);
        if (pending.Count > 0)
        {
            var outcomes = runner.Run(pending.Select(i => files[i]).ToList(), cancellation);
            Ran += pending.Count;
            if (outcomes.Count != pending.Count)
                throw new InvalidOperationException($"the trial runner returned {outcomes.Count} outcomes for {pending.Count} shards");
            var failed = outcomes.Where(o => !o.Succeeded).ToList();
            if (failed.Count > 0)
                throw new TrialFailedException(failed.Select(o => (o with { Index = pending[o.Index] }, files[pending[o.Index]].SpecPath)).ToList());
        }
        logger.LogInformation("Sensitivity: {Ran} shard(s) run, {Reused} answered from results already in '{Folder}'.", pending.Count,
            specs.Count - pending.Count, folder);
        var points = Enumerable.Range(0, specs.Count).SelectMany(i => TrialResult.Load(files[i].ResultPath, specs[i]).Metrics
            ?? throw new InvalidDataException($"The trial result '{files[i].ResultPath}' holds no sensitivity metrics."));
        return TaskSensitivity.Assemble(shards[0].Baseline, shards[0].Sparsities, points.ToList());
    }

    private bool Whole(string path, TrialSpec spec)
    {
        if (!File.Exists(path)) return false;
        try
        {
            return TrialResult.Load(path, spec).Metrics is not null;
        }
        catch (InvalidDataException e)
        {
            logger.LogWarning("Ignoring the trial result '{Path}' ({Problem}); the shard runs again.", path, e.Message);
            File.Delete(path);
            return false;
        }
    }
}
