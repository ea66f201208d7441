using Microsoft.Extensions.Logging;
using Trainer.Core.IO;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>Where a run's TensorBoard logs and checkpoints go: LogDir/RunName and CheckpointDir/RunName.</summary>
public sealed record RunFolders(string RunName, string LogDir, string CheckpointDir)
{
    /// <summary>
    /// Resolves the run's folders. A new run without a RunName gets a timestamp; a resumed run
    /// without one continues the newest run that has a "last" checkpoint. A new run never reuses a
    /// folder that already holds checkpoints, so nothing of an earlier run is overwritten.
    /// </summary>
    /// <param name="options">The Trainer section.</param>
    /// <param name="stage">For a pipeline stage run on its own (e.g. "compress"): the stage keeps its own results under
    /// &lt;CheckpointDir&gt;/&lt;RunName&gt;/&lt;stage&gt; and checks them itself, so an existing training run may be named.</param>
    /// <param name="logger">Where the removal of a killed run's temporary files is reported.</param>
    /// <remarks>A resumed run first removes the temporary files a killed process of this run left (see
    /// <see cref="RemoveStaleTemps"/>): the whole run's folders, or the stage's alone for a stage.</remarks>
    public static RunFolders Resolve(TrainerOptions options, string? stage = null, ILogger? logger = null)
    {
        var marker = stage is null ? "last.ckpt" : Path.Combine(stage, "manifest.json");
        var name = options.RunName;
        if (name.Length == 0 && options.Resume)
        {
            name = Directory.Exists(options.CheckpointDir)
                ? new DirectoryInfo(options.CheckpointDir).EnumerateDirectories()
                    .Where(d => File.Exists(Path.Combine(d.FullName, marker)))
                    .OrderByDescending(d => File.GetLastWriteTimeUtc(Path.Combine(d.FullName, marker)))
                    .Select(d => d.Name).FirstOrDefault() ?? ""
                : "";
            if (name.Length == 0)
                throw new JobException($"--resume found no run with a checkpoint under '{options.CheckpointDir}' (Trainer:CheckpointDir); " +
                                       "start a run without --resume first, or name one with --Trainer:RunName.");
        }
        if (name.Length == 0) name = "run-" + DateTime.Now.ToString("yyyyMMdd-HHmmss");

        var folders = new RunFolders(name, Path.Combine(options.LogDir, name), Path.Combine(options.CheckpointDir, name));
        if (stage is null && !options.Resume && File.Exists(Path.Combine(folders.CheckpointDir, "last.ckpt")))
            throw new JobException($"The run '{name}' already has checkpoints in '{folders.CheckpointDir}'. " +
                                   "Pass --resume to continue it, or choose another --Trainer:RunName.");
        if (options.Resume) (stage is null ? folders : folders.Stage(stage)).RemoveStaleTemps(logger);
        return folders;
    }

    /// <summary>Deletes the temporary files of interrupted writes (<see cref="AtomicFile.IsTempName"/>) under both folders, their
    /// sub-folders included: what a process of this run killed while writing left. Returns how many were removed.</summary>
    public int RemoveStaleTemps(ILogger? logger = null)
    {
        var removed = AtomicFile.RemoveStaleTemps(LogDir).Concat(AtomicFile.RemoveStaleTemps(CheckpointDir)).ToList();
        if (removed.Count > 0)
            logger?.LogInformation("Removed {Count} temporary file(s) an interrupted run left: {Files}.", removed.Count,
                string.Join(", ", removed.Select(Path.GetFileName)));
        return removed.Count;
    }

    /// <summary>The folders of pipeline stage <paramref name="stage"/> inside this run.</summary>
    public RunFolders Stage(string stage) => new(RunName, Path.Combine(LogDir, stage), Path.Combine(CheckpointDir, stage));
}

/// <summary>An error in what the user asked for; the host prints its message and exits non-zero.</summary>
public sealed class JobException(string message) : Exception(message)
{
    /// <summary>Wraps a library's argument error for the command line: its message without the parameter name, plus where it came from.</summary>
    public static JobException From(ArgumentException e, string source) =>
        new($"{(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", ""))} ({source})");
}
