using System.Globalization;
using System.Text;
using Trainer.Core.IO;

namespace Trainer.Core.Search.Trials;

/// <summary>One batch's folder in the shared folder: <c>tasks.txt</c> (spec and result path of task i on line i + 1,
/// tab-separated), <c>run-trial.sh</c> (what each array task runs), <c>exit/&lt;i&gt;.&lt;attempt&gt;</c> (a task's
/// exit code, written by the script after the trial) and <c>logs/&lt;i&gt;.&lt;attempt&gt;.out|err</c>.</summary>
internal sealed class SlurmBatchFolder
{
    private const int ErrorTailChars = 2000;

    private SlurmBatchFolder(string path, IReadOnlyList<TrialFiles> trials) => (Path, Trials) = (path, trials);

    /// <summary>The batch folder (absolute).</summary>
    public string Path { get; }

    /// <summary>The batch's trials with absolute paths, as the nodes see them.</summary>
    public IReadOnlyList<TrialFiles> Trials { get; }

    /// <summary>The script sbatch submits.</summary>
    public string Script => System.IO.Path.Combine(Path, "run-trial.sh");

    /// <summary>Creates a new batch folder under <paramref name="sharedFolder"/> with the task list and the script.</summary>
    public static SlurmBatchFolder Create(string sharedFolder, IReadOnlyList<TrialFiles> trials, TrialCommand command, IReadOnlyList<string> threadVariables)
    {
        var absolute = trials.Select(trial => new TrialFiles(System.IO.Path.GetFullPath(trial.SpecPath), System.IO.Path.GetFullPath(trial.ResultPath))).ToList();
        for (var i = 0; i < absolute.Count; i++)
            if ((absolute[i].SpecPath + absolute[i].ResultPath).IndexOfAny(['\t', '\n', '\r']) >= 0)
                throw new ArgumentException($"Trial {i}: its spec or result path contains a tab or a line break, which the Slurm task list cannot hold; rename it.");
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var path = System.IO.Path.Combine(System.IO.Path.GetFullPath(sharedFolder), $"batch-{stamp}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(System.IO.Path.Combine(path, "exit"));
        Directory.CreateDirectory(System.IO.Path.Combine(path, "logs"));
        var batch = new SlurmBatchFolder(path, absolute);
        AtomicFile.WriteAllText(System.IO.Path.Combine(path, "tasks.txt"), string.Concat(absolute.Select(trial => $"{trial.SpecPath}\t{trial.ResultPath}\n")));
        AtomicFile.WriteAllText(batch.Script, ScriptText(path, command, threadVariables));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(batch.Script, (UnixFileMode)0b111_101_101);
        return batch;
    }

    /// <summary>The output file pattern for an attempt (sbatch replaces %a with the task index).</summary>
    public string OutputPattern(int attempt) => System.IO.Path.Combine(Path, "logs", $"%a.{attempt}.out");

    /// <summary>The error file pattern for an attempt.</summary>
    public string ErrorPattern(int attempt) => System.IO.Path.Combine(Path, "logs", $"%a.{attempt}.err");

    /// <summary>Task <paramref name="index"/>'s exit code for <paramref name="attempt"/>, or null when it left no record.</summary>
    public int? ExitCode(int index, int attempt)
    {
        var file = System.IO.Path.Combine(Path, "exit", $"{index}.{attempt}");
        if (!File.Exists(file)) return null;
        return int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code) ? code : null;
    }

    /// <summary>The end of task <paramref name="index"/>'s error output for <paramref name="attempt"/> (empty when none).</summary>
    public string ErrorTail(int index, int attempt)
    {
        var file = System.IO.Path.Combine(Path, "logs", $"{index}.{attempt}.err");
        if (!File.Exists(file)) return "";
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        stream.Seek(Math.Max(0, stream.Length - ErrorTailChars), SeekOrigin.Begin);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd().Trim();
    }

    // bash, since every Slurm node has it; the batch folder is written in as a literal because sbatch runs a copy of
    // the script from its spool folder, and the trial's exit code is renamed into place so a record that exists is whole.
    private static string ScriptText(string batchPath, TrialCommand command, IReadOnlyList<string> threadVariables)
    {
        var threads = threadVariables.Count == 0 ? ":" : "export " + string.Join(' ', threadVariables.Select(name => $"{name}=\"${{SLURM_CPUS_PER_TASK:-1}}\""));
        var program = string.Join(' ', new[] { command.Program }.Concat(command.Arguments).Select(Quote));
        return $$"""
            #!/bin/bash
            # Runs task SLURM_ARRAY_TASK_ID of this batch: line (index + 1) of tasks.txt holds its spec and result paths.
            # Written by Trainer's SlurmTrialRunner; the first argument is the attempt number.
            batch={{Quote(batchPath)}}
            attempt="$1"
            i="$SLURM_ARRAY_TASK_ID"
            IFS=$'\t' read -r spec result < <(sed -n "$((i + 1))p" "$batch/tasks.txt")
            if [ -z "$spec" ] || [ -z "$result" ]; then
              echo "run-trial.sh: no task $i in $batch/tasks.txt" >&2
              code=125
            else
              {{threads}}
              {{program}} "$spec" --result "$result"
              code=$?
            fi
            printf '%s\n' "$code" > "$batch/exit/$i.$attempt.tmp" && mv -f "$batch/exit/$i.$attempt.tmp" "$batch/exit/$i.$attempt"
            exit "$code"

            """;
    }

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
