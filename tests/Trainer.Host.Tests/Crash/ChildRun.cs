using System.Diagnostics;
using System.Text;
using Trainer.Host.Tests.Cli;

namespace Trainer.Host.Tests.Crash;

/// <summary>How one `trainer` process ended.</summary>
/// <param name="ExitCode">The exit code; 137 (128 + SIGKILL) when it was killed.</param>
/// <param name="KilledByHarness">The harness killed it when its delay ran out.</param>
/// <param name="Elapsed">From start to exit.</param>
/// <param name="FirstSeen">For each watched file, when it first existed (from the start); absent when it never did.</param>
/// <param name="Output">Standard output and error.</param>
/// <param name="Started">When the first output line holding the start marker came; null when none did.</param>
internal sealed record ChildOutcome(int ExitCode, bool KilledByHarness, TimeSpan Elapsed, IReadOnlyDictionary<string, TimeSpan> FirstSeen,
    string Output, TimeSpan? Started)
{
    /// <summary>128 + SIGKILL: the exit code of a process killed by SIGKILL (its own kill switch or the harness).</summary>
    public const int SigKillExitCode = 137;

    /// <summary>The process died of SIGKILL.</summary>
    public bool Killed => ExitCode == SigKillExitCode;

    /// <summary>The child's process id (with <see cref="ChildRun.Run"/>'s ownProcessGroup, also its process group's id).</summary>
    public int ProcessId { get; init; }
}

/// <summary>Runs the `trainer` apphost beside the test assembly as a child process that may be killed with SIGKILL.</summary>
internal static class ChildRun
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(25);

    /// <summary>
    /// Runs `trainer <paramref name="args"/>` in <paramref name="workingDirectory"/> with extra <paramref name="environment"/>
    /// variables. With <paramref name="killAfter"/> the process is killed (<see cref="Process.Kill()"/>: SIGKILL on Linux) when
    /// that much time has passed since its start, unless it has exited. <paramref name="watch"/> lists files whose first
    /// appearance is timed (polled every 25 ms), <paramref name="startMarker"/> text whose first output line is timed.
    /// </summary>
    /// <remarks>With <paramref name="killWhen"/> the process is killed as soon as that condition (given its process id) holds,
    /// polled every 25 ms.
    /// With <paramref name="ownProcessGroup"/> it starts in a session and process group of its own (through setsid, which execs
    /// it under the same process id), so that <paramref name="killGroup"/> can SIGKILL it together with every process it
    /// started; without <paramref name="killGroup"/> a kill reaches the `trainer` process alone and its children are orphaned.</remarks>
    public static ChildOutcome Run(string workingDirectory, string[] args, IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? killAfter = null, IReadOnlyCollection<string>? watch = null, string? startMarker = null,
        Func<int, bool>? killWhen = null, bool ownProcessGroup = false, bool killGroup = false)
    {
        if (killGroup && !ownProcessGroup) throw new ArgumentException("a group kill needs the child in its own process group", nameof(killGroup));
        var start = new ProcessStartInfo(ownProcessGroup ? "setsid" : HostProcess.Executable)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (ownProcessGroup) start.ArgumentList.Add(HostProcess.Executable);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["CI"] = "true";
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;

        var output = new StringBuilder();
        var firstSeen = new Dictionary<string, TimeSpan>();
        var clock = Stopwatch.StartNew();
        using var process = new Process { StartInfo = start };
        TimeSpan? started = null;
        void Append(string? line)
        {
            if (line is null) return;
            lock (output)
            {
                output.AppendLine(line);
                if (started is null && startMarker is not null && line.Contains(startMarker, StringComparison.Ordinal)) started = clock.Elapsed;
            }
        }
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool killed = false;
        while (!process.WaitForExit(Poll))
        {
            foreach (var file in watch ?? [])
                if (!firstSeen.ContainsKey(file) && File.Exists(file)) firstSeen[file] = clock.Elapsed;
            if ((killAfter is { } delay && clock.Elapsed >= delay) || (killWhen is not null && killWhen(process.Id)))
            {
                try
                {
                    if (killGroup) ProcessGroups.Kill(process.Id);
                    else process.Kill();
                    killed = true;
                }
                catch (InvalidOperationException)
                {
                    // It exited in the meantime.
                }
                process.WaitForExit();
                break;
            }
        }
        process.WaitForExit();     // the redirected streams are drained
        var elapsed = clock.Elapsed;
        foreach (var file in watch ?? [])
            if (!firstSeen.ContainsKey(file) && File.Exists(file)) firstSeen[file] = elapsed;
        lock (output)
            return new ChildOutcome(process.ExitCode, killed && process.ExitCode == ChildOutcome.SigKillExitCode, elapsed, firstSeen,
                output.ToString(), started) { ProcessId = process.Id };
    }
}
