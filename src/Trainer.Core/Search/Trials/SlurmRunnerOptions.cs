namespace Trainer.Core.Search.Trials;

/// <summary>How <see cref="SlurmTrialRunner"/> submits a batch of trials as a Slurm job array.</summary>
public sealed record SlurmRunnerOptions
{
    /// <summary>A folder that the submitting machine and every compute node see at the same path; each batch gets a
    /// sub-folder with its task list, its sbatch script, the tasks' exit records and their output and error files.</summary>
    public required string SharedFolder { get; init; }

    /// <summary>The partition to submit to (<c>--partition</c>); null for the cluster's default.</summary>
    public string? Partition { get; init; }

    /// <summary>At most this many tasks of the array run at once (<c>--array=…%N</c>); 0 leaves it to the scheduler.</summary>
    public int MaxParallel { get; init; }

    /// <summary>CPUs per task (<c>--cpus-per-task</c>); also the trial's thread count (every <see cref="ThreadVariables"/>).</summary>
    public int CpusPerTask { get; init; } = 1;

    /// <summary>Each task's time limit (<c>--time</c>, whole minutes, rounded up); a task over it is lost and retried.</summary>
    public TimeSpan TimeLimit { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the queue (squeue) and the exit records are checked while an array runs.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How many times a trial is started at most: a failed task (non-zero exit or no result) or a lost one
    /// (left the queue without an exit record) is resubmitted until then, and reported by its index after.</summary>
    public int MaxAttempts { get; init; } = 3;

    /// <summary>After an array left the queue, how long to keep looking for exit records that have not appeared yet
    /// (a shared file system can show a node's files late) before calling those tasks lost.</summary>
    public TimeSpan SettleTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The job name shown by squeue (<c>--job-name</c>).</summary>
    public string JobName { get; init; } = "trainer-trials";

    /// <summary>Environment variables each task sets to <see cref="CpusPerTask"/> before running its trial (OpenMP's and
    /// MKL's by default; add the trial program's own thread setting, e.g. Trainer__Threads).</summary>
    public IReadOnlyList<string> ThreadVariables { get; init; } = ["OMP_NUM_THREADS", "MKL_NUM_THREADS"];

    /// <summary>Exit codes that mean the trial itself is wrong (e.g. <c>trainer trial</c>'s 2, an invalid spec): such a
    /// trial is reported at once, not resubmitted.</summary>
    public IReadOnlyList<int> NoRetryExitCodes { get; init; } = [];

    /// <summary>Further sbatch options the cluster asks for (e.g. <c>--account=…</c>, <c>--qos=…</c>, <c>--mem-per-cpu=…</c>).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>Throws one clear exception for the first setting that cannot work.</summary>
    public void Validate()
    {
        static void Require(bool ok, string message)
        {
            if (!ok) throw new ArgumentException(message);
        }
        Require(!string.IsNullOrWhiteSpace(SharedFolder), "Slurm runner: SharedFolder is empty; set it to a folder every node sees at the same path.");
        Require(!SharedFolder.Contains('%') && !SharedFolder.Contains('\\'),
            $"Slurm runner: SharedFolder '{SharedFolder}' contains '%' or '\\', which sbatch reads as a file-name pattern; choose a folder without them.");
        Require(Partition is null || (Partition.Length > 0 && !Partition.Any(char.IsWhiteSpace)),
            $"Slurm runner: Partition '{Partition}' is not a partition name; leave it unset for the cluster's default.");
        Require(MaxParallel >= 0, $"Slurm runner: MaxParallel is {MaxParallel}; use 0 (no limit) or a positive count.");
        Require(CpusPerTask >= 1, $"Slurm runner: CpusPerTask is {CpusPerTask}; use 1 or more.");
        Require(TimeLimit > TimeSpan.Zero, $"Slurm runner: TimeLimit is {TimeLimit}; use a positive time.");
        Require(PollInterval > TimeSpan.Zero, $"Slurm runner: PollInterval is {PollInterval}; use a positive time.");
        Require(MaxAttempts >= 1, $"Slurm runner: MaxAttempts is {MaxAttempts}; use 1 (no retries) or more.");
        Require(SettleTime >= TimeSpan.Zero, $"Slurm runner: SettleTime is {SettleTime}; use zero or a positive time.");
        Require(!string.IsNullOrWhiteSpace(JobName), "Slurm runner: JobName is empty.");
        Require(ThreadVariables.All(name => name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')),
            $"Slurm runner: ThreadVariables ({string.Join(", ", ThreadVariables)}) must be environment variable names (letters, digits, '_').");
    }

    /// <summary>The time limit as sbatch takes it: whole minutes, rounded up.</summary>
    public string SbatchTime => ((long)Math.Ceiling(TimeLimit.TotalMinutes)).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
