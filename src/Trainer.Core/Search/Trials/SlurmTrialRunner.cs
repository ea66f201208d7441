using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search.Trials;

/// <summary>Runs a batch of trials as a Slurm job array: the task list and an sbatch script go into a batch folder in
/// the shared folder, <c>sbatch --array=0-(N-1)%MaxParallel</c> runs task i's trial on some node, and each task records
/// its exit code next to its output and error files. The runner polls squeue until the array has left the queue, then
/// resubmits the failed tasks (non-zero exit or no result) and the lost ones (left the queue without an exit record:
/// cancelled, over the time limit, node failure) as a new array of their indices, up to
/// <see cref="SlurmRunnerOptions.MaxAttempts"/>; a task still failing then is reported by its index with the end of
/// its error output. Cancelling the token scancels the array.</summary>
public sealed class SlurmTrialRunner : ITrialRunner
{
    // Slurm's default MaxArraySize is 1001: array indices run 0..1000.
    private const int MaxArrayTasks = 1001;

    private readonly TrialCommand command;
    private readonly SlurmRunnerOptions options;
    private readonly SlurmCommands slurm;
    private readonly ILogger logger;

    /// <summary>Creates a runner that runs each trial as <paramref name="command"/> on the cluster.</summary>
    /// <param name="command">The trial command line, as the nodes run it (the trainer installed on every node).</param>
    /// <param name="options">Partition, parallelism, CPUs, time limit, polling and retries.</param>
    /// <param name="logger">Progress: submissions, retries, failures.</param>
    /// <param name="slurm">The Slurm commands; null finds them on the PATH.</param>
    /// <exception cref="InvalidOperationException">sbatch, squeue or scancel is not on the PATH (the message names the fix).</exception>
    public SlurmTrialRunner(TrialCommand command, SlurmRunnerOptions options, ILogger? logger = null, SlurmCommands? slurm = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.command = command;
        this.options = options;
        this.logger = logger ?? NullLogger.Instance;
        this.slurm = slurm ?? SlurmCommands.Locate();
    }

    /// <inheritdoc />
    public IReadOnlyList<TrialOutcome> Run(IReadOnlyList<TrialFiles> trials, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(trials);
        if (trials.Count == 0) return [];
        if (trials.Count > MaxArrayTasks)
            throw new ArgumentException($"A Slurm batch holds at most {MaxArrayTasks} trials (Slurm's default MaxArraySize), and this one has {trials.Count}; run it as several batches.");
        cancellation.ThrowIfCancellationRequested();

        var batch = SlurmBatchFolder.Create(options.SharedFolder, trials, command, options.ThreadVariables);
        var errors = new string?[trials.Count];
        var attempts = new int[trials.Count];
        var succeeded = new bool[trials.Count];
        var pending = Enumerable.Range(0, trials.Count).ToList();
        for (var attempt = 1; pending.Count > 0; attempt++)
        {
            cancellation.ThrowIfCancellationRequested();
            var jobId = slurm.Submit(SbatchArguments(batch, pending, attempt));
            logger.LogInformation("Slurm job {JobId}: {Count} trial(s) of batch {Batch}, attempt {Attempt} of {MaxAttempts}",
                jobId, pending.Count, Path.GetFileName(batch.Path), attempt, options.MaxAttempts);
            WaitWhileQueued(jobId, cancellation);
            var exitCodes = CollectExitCodes(batch, pending, attempt, cancellation);

            var retry = new List<int>();
            foreach (var index in pending)
            {
                attempts[index] = attempt;
                var error = Failure(batch, index, attempt, exitCodes[index]);
                if (error is null) { succeeded[index] = true; errors[index] = null; continue; }
                errors[index] = error;
                if (attempt < options.MaxAttempts && !(exitCodes[index] is { } code && options.NoRetryExitCodes.Contains(code))) retry.Add(index);
                else logger.LogWarning("Trial {Index} failed for good: {Error}", index, error);
            }
            if (retry.Count > 0)
                logger.LogWarning("Slurm job {JobId}: retrying trial(s) {Indices}", jobId, string.Join(',', retry));
            pending = retry;
        }
        return [.. Enumerable.Range(0, trials.Count).Select(i => new TrialOutcome(i, succeeded[i], attempts[i], errors[i]))];
    }

    /// <summary>The sbatch command line for one attempt of <paramref name="indices"/> (ascending).</summary>
    private List<string> SbatchArguments(SlurmBatchFolder batch, IReadOnlyList<int> indices, int attempt)
    {
        var array = ArraySpec(indices) + (options.MaxParallel > 0 ? $"%{options.MaxParallel}" : "");
        var arguments = new List<string>
        {
            "--parsable", $"--job-name={options.JobName}", $"--array={array}", "--nodes=1", "--ntasks=1",
            $"--cpus-per-task={options.CpusPerTask}", $"--time={options.SbatchTime}",
            $"--output={batch.OutputPattern(attempt)}", $"--error={batch.ErrorPattern(attempt)}",
            $"--chdir={batch.Path}",
            // Retries are the runner's, counted per task; Slurm requeueing a task itself would run an attempt twice.
            "--no-requeue",
        };
        if (options.Partition is not null) arguments.Add($"--partition={options.Partition}");
        arguments.AddRange(options.ExtraArguments);
        arguments.Add(batch.Script);
        arguments.Add(attempt.ToString(CultureInfo.InvariantCulture));
        return arguments;
    }

    /// <summary>Ascending task indices as sbatch's array list: runs of consecutive indices become ranges ("0-3,5,7-9").</summary>
    public static string ArraySpec(IReadOnlyList<int> indices)
    {
        var parts = new List<string>();
        for (var start = 0; start < indices.Count;)
        {
            var end = start;
            while (end + 1 < indices.Count && indices[end + 1] == indices[end] + 1) end++;
            parts.Add(end == start ? $"{indices[start]}" : $"{indices[start]}-{indices[end]}");
            start = end + 1;
        }
        return string.Join(',', parts);
    }

    // Pending reasons of a task that can never start as submitted: the partition's limits (CPUs, nodes, time), the
    // constraints, the account or the QOS. Slurm keeps such a job pending rather than refusing it (EnforcePartLimits=NO).
    private static readonly HashSet<string> NeverStarts = new(StringComparer.OrdinalIgnoreCase)
    {
        "PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints", "InvalidAccount", "InvalidQOS",
    };

    private void WaitWhileQueued(string jobId, CancellationToken cancellation)
    {
        try
        {
            while (true)
            {
                var queued = slurm.Queued(jobId);
                if (queued is { Count: 0 }) return;
                if (queued is null) logger.LogWarning("squeue did not answer for job {JobId}; asking again", jobId);
                else if (queued.FirstOrDefault(task => task.State == "PENDING" && NeverStarts.Contains(task.Reason)) is { } stuck)
                    throw new InvalidOperationException(
                        $"Slurm job {jobId} cannot start: task {stuck.Id} is pending with reason {stuck.Reason}, so the job was cancelled. " +
                        $"The runner asked for {options.CpusPerTask} CPU(s) per task and {options.SbatchTime} minute(s)" +
                        (options.Partition is null ? " on the default partition" : $" on partition {options.Partition}") +
                        "; fit the Slurm runner's CPUs per task, time limit, partition and extra sbatch arguments to the cluster (sinfo, scontrol show partition).");
                cancellation.WaitHandle.WaitOne(options.PollInterval);
                cancellation.ThrowIfCancellationRequested();
            }
        }
        catch
        {
            var cancelError = slurm.Cancel(jobId);
            if (cancelError is not null) logger.LogWarning("{Error}", cancelError);
            else logger.LogInformation("Slurm job {JobId} cancelled", jobId);
            throw;
        }
    }

    /// <summary>Each pending task's exit code; missing records are looked for again until
    /// <see cref="SlurmRunnerOptions.SettleTime"/> has passed, since a shared file system can show them late.</summary>
    private Dictionary<int, int?> CollectExitCodes(SlurmBatchFolder batch, IReadOnlyList<int> pending, int attempt, CancellationToken cancellation)
    {
        var codes = pending.ToDictionary(index => index, index => batch.ExitCode(index, attempt));
        var clock = Stopwatch.StartNew();
        while (codes.Values.Any(code => code is null) && clock.Elapsed < options.SettleTime)
        {
            cancellation.WaitHandle.WaitOne(Min(options.PollInterval, options.SettleTime - clock.Elapsed));
            cancellation.ThrowIfCancellationRequested();
            foreach (var index in codes.Where(pair => pair.Value is null).Select(pair => pair.Key).ToList())
                codes[index] = batch.ExitCode(index, attempt);
        }
        return codes;
    }

    /// <summary>Why an attempt failed, or null when it succeeded (exit code 0 and the result file exists).</summary>
    private static string? Failure(SlurmBatchFolder batch, int index, int attempt, int? exitCode)
    {
        var trial = batch.Trials[index];
        string what;
        if (exitCode is null) what = "left the queue without an exit record (cancelled, over its time limit, or its node failed)";
        else if (exitCode != 0) what = $"exited with code {exitCode}";
        else if (!File.Exists(trial.ResultPath)) what = $"exited with code 0 but wrote no result at {trial.ResultPath}";
        else return null;
        var tail = batch.ErrorTail(index, attempt);
        return $"Trial {index} (attempt {attempt}, spec {trial.SpecPath}) {what}." + (tail.Length > 0 ? $" Error output ends:\n{tail}" : " No error output.");
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
