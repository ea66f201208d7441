using System.Diagnostics;

namespace Trainer.Core.Search.Trials;

/// <summary>The Slurm client commands the runner uses (sbatch, squeue, scancel), found on the PATH, and how it calls
/// them. Located when a runner is created, so a machine without Slurm fails before any work with one clear error.</summary>
public sealed class SlurmCommands
{
    // sbatch retries a controller that does not answer; past this a call is an error rather than a hang.
    private static readonly TimeSpan CallTimeout = TimeSpan.FromMinutes(2);

    private SlurmCommands(string sbatch, string squeue, string scancel) => (Sbatch, Squeue, Scancel) = (sbatch, squeue, scancel);

    /// <summary>The full path of sbatch.</summary>
    public string Sbatch { get; }

    /// <summary>The full path of squeue.</summary>
    public string Squeue { get; }

    /// <summary>The full path of scancel.</summary>
    public string Scancel { get; }

    /// <summary>Finds sbatch, squeue and scancel on <paramref name="searchPath"/> (the process's PATH when null).</summary>
    /// <exception cref="InvalidOperationException">One of them is not there; the message names the fix.</exception>
    public static SlurmCommands Locate(string? searchPath = null)
    {
        searchPath ??= Environment.GetEnvironmentVariable("PATH") ?? "";
        var folders = searchPath.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        string? Find(string name) => folders.Select(folder => Path.Combine(folder, name)).FirstOrDefault(IsExecutable);
        var found = new[] { "sbatch", "squeue", "scancel" }.Select(name => (name, path: Find(name))).ToList();
        var missing = found.Where(tool => tool.path is null).Select(tool => tool.name).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException(
                $"The Slurm trial runner needs {string.Join(", ", missing)} on the PATH, and {(missing.Count == 1 ? "it is" : "they are")} not there " +
                $"(PATH: '{searchPath}'). Install Slurm's client commands on this machine (Debian: apt-get install slurm-client, or " +
                "slurm-wlm for a whole node) and put them on the PATH, or run the trials on this machine instead (Search:Runner=local).");
        return new SlurmCommands(found[0].path!, found[1].path!, found[2].path!);
    }

    /// <summary>Submits with <c>sbatch --parsable</c> and returns the job id.</summary>
    internal string Submit(IReadOnlyList<string> arguments)
    {
        var (code, output, error) = Call(Sbatch, arguments);
        var jobId = output.Trim().Split(';')[0];
        if (code != 0 || jobId.Length == 0 || !jobId.All(char.IsAsciiDigit))
            throw new InvalidOperationException(
                $"sbatch did not accept the trial array (exit code {code}): {error.Trim()} {output.Trim()}".TrimEnd() +
                " Check the Slurm runner's settings (partition, time limit, CPUs per task, extra sbatch arguments) against the cluster's limits (sinfo, scontrol show partition).");
        return jobId;
    }

    /// <summary>The tasks of job <paramref name="jobId"/> still queued or running, each with its state and (when
    /// pending) the scheduler's reason; empty when the job has left the queue; null when squeue could not be asked (the
    /// controller busy or restarting), so the caller asks again later.</summary>
    internal IReadOnlyList<QueuedTask>? Queued(string jobId)
    {
        var (code, output, error) = Call(Squeue, ["--noheader", "--array", $"--jobs={jobId}", "--format=%i %T %r"]);
        if (code == 0)
            return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(line => line.Split(' ', 3, StringSplitOptions.RemoveEmptyEntries))
                .Select(fields => new QueuedTask(fields[0], fields.ElementAtOrDefault(1) ?? "", fields.ElementAtOrDefault(2) ?? ""))];
        // A job the controller has already purged (after MinJobAge) is reported as an invalid id: it has left the queue.
        if (error.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase)) return [];
        return null;
    }

    /// <summary>Cancels every task of job <paramref name="jobId"/>; failures are returned rather than thrown, since
    /// this runs while another exception or a cancellation is already on its way.</summary>
    internal string? Cancel(string jobId)
    {
        var (code, output, error) = Call(Scancel, [jobId]);
        return code == 0 ? null : $"scancel {jobId} failed (exit code {code}): {error.Trim()} {output.Trim()}";
    }

    private static (int Code, string Output, string Error) Call(string program, IReadOnlyList<string> arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CallTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Path.GetFileName(program)} did not answer within {CallTimeout.TotalMinutes} minutes; is slurmctld up (scontrol ping)?");
        }
        return (process.ExitCode, output.Result, error.Result);
    }

    private static bool IsExecutable(string path) =>
        File.Exists(path) && (OperatingSystem.IsWindows() ||
            (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0);
}

/// <summary>One array task as squeue lists it.</summary>
/// <param name="Id">"jobid_index".</param>
/// <param name="State">PENDING, RUNNING, COMPLETING, …</param>
/// <param name="Reason">Why it is pending (Resources, Priority, PartitionConfig, …) or "None".</param>
internal sealed record QueuedTask(string Id, string State, string Reason);
