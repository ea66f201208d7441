using Trainer.Core.Search.Trials;

namespace Trainer.Host.Options;

/// <summary>The "Search:Slurm" settings: how `trainer search` submits its trials as Slurm job arrays
/// (Search:Runner=slurm). See docs/slurm-trials.md.</summary>
public sealed class SearchSlurmOptions
{
    /// <summary>A folder every node sees at the same path, for the batches' task lists, scripts and logs; empty for the
    /// search's own trials folder (checkpoints/&lt;run&gt;/search/trials, which then must be shared).</summary>
    public string SharedFolder { get; set; } = "";

    /// <summary>The partition (<c>--partition</c>); empty for the cluster's default.</summary>
    public string Partition { get; set; } = "";

    /// <summary>At most this many trials of a batch at once; 0 leaves it to the scheduler.</summary>
    public int MaxParallel { get; set; }

    /// <summary>CPUs per trial (<c>--cpus-per-task</c>), also its thread count.</summary>
    public int CpusPerTask { get; set; } = 1;

    /// <summary>Each trial's time limit in minutes (<c>--time</c>); a trial over it is lost and retried.</summary>
    public int TimeLimitMinutes { get; set; } = 60;

    /// <summary>Seconds between squeue polls.</summary>
    public double PollSeconds { get; set; } = 5;

    /// <summary>Further sbatch options, separated by spaces (e.g. "--account=lab --qos=short").</summary>
    public string ExtraArguments { get; set; } = "";

    /// <summary>The Core runner's settings, with trials attempted <paramref name="maxAttempts"/> times at most and
    /// <paramref name="trialsFolder"/> as the shared folder when none is set.</summary>
    public SlurmRunnerOptions ToRunnerOptions(int maxAttempts, string trialsFolder) => new()
    {
        SharedFolder = Path.GetFullPath(SharedFolder.Length > 0 ? SharedFolder : Path.Combine(trialsFolder, "slurm")),
        Partition = Partition.Length > 0 ? Partition : null,
        MaxParallel = MaxParallel,
        CpusPerTask = CpusPerTask,
        TimeLimit = TimeSpan.FromMinutes(TimeLimitMinutes),
        PollInterval = TimeSpan.FromSeconds(PollSeconds),
        MaxAttempts = maxAttempts,
        JobName = "trainer-search",
        ThreadVariables = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "Trainer__Threads"],
        // `trainer trial` exits with 2 for a spec it refuses (another model, a group the model lacks): running it again cannot help.
        NoRetryExitCodes = [2],
        ExtraArguments = ExtraArguments.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };

    /// <summary>One message per setting that cannot work, and one when sbatch, squeue or scancel is not on the PATH.</summary>
    public IEnumerable<string> Errors()
    {
        if (MaxParallel < 0)
            yield return $"Search:Slurm:MaxParallel = {MaxParallel} is invalid; accepted: 0 (no limit) or a positive count of trials at once.";
        if (CpusPerTask < 1)
            yield return $"Search:Slurm:CpusPerTask = {CpusPerTask} is invalid; accepted: 1 or more CPUs per trial.";
        if (TimeLimitMinutes < 1)
            yield return $"Search:Slurm:TimeLimitMinutes = {TimeLimitMinutes} is invalid; accepted: 1 or more minutes per trial.";
        if (!(PollSeconds > 0) || double.IsInfinity(PollSeconds))
            yield return $"Search:Slurm:PollSeconds = {PollSeconds} is invalid; accepted: a positive number of seconds, e.g. 5.";
        if (SharedFolder.Contains('%') || Partition.Any(char.IsWhiteSpace))
            yield return $"Search:Slurm:SharedFolder = '{SharedFolder}', Search:Slurm:Partition = '{Partition}' is invalid; accepted: a folder without '%' and a partition name.";
        string? missing = null;
        try
        {
            SlurmCommands.Locate();
        }
        catch (InvalidOperationException e)
        {
            missing = $"Search:Runner = 'slurm': {e.Message}";
        }
        if (missing is not null) yield return missing;
    }
}
