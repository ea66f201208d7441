using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Trainer.Core.IO;

/// <summary>
/// Fault injection for crash tests only (tests/Trainer.Host.Tests/Crash): with the environment variable
/// <c>TRAINER_KILL_DURING_WRITE=&lt;substring&gt;[:&lt;n&gt;]</c> the process kills itself with SIGKILL inside the n-th
/// (default: first) <see cref="AtomicFile.Write"/> whose destination path contains the substring (ordinal; normally a file
/// name such as <c>quantized.trnq</c> or a tail such as <c>compress/manifest.json</c>). The kill comes after the temporary
/// file was written and cut to half its length (what a kill in the middle of writing leaves), before the rename: the
/// destination keeps its previous content and a stale temporary file is left, as after a real crash at that moment.
/// Appends to a journal (<see cref="DuringAppend"/>, the search's trials.jsonl) count as writes too: the kill comes after
/// half of the appended line reached the disk, leaving a torn last line.
/// Unset (always, outside crash tests) it costs one string comparison per write.
/// </summary>
internal static class WriteKillSwitch
{
    /// <summary>The environment variable read once at start-up.</summary>
    public const string Variable = "TRAINER_KILL_DURING_WRITE";

    private static readonly (string Match, int Count)? Setting = Parse(Environment.GetEnvironmentVariable(Variable));
    private static int _matches;

    /// <summary>"substring[:n]" → (substring, n); a tail that is not a positive integer belongs to the substring. Null when unset or empty.</summary>
    internal static (string Match, int Count)? Parse(string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        var colon = value.LastIndexOf(':');
        if (colon > 0 && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
            return (value[..colon], n);
        return (value, 1);
    }

    /// <summary>Called by <see cref="AtomicFile.Write"/> between writing <paramref name="temp"/> and renaming it to
    /// <paramref name="destination"/>: kills the process when this is the configured write.</summary>
    public static void BeforeRename(string destination, string temp)
    {
        if (Setting is not { } s || !destination.Contains(s.Match, StringComparison.Ordinal)) return;
        if (Interlocked.Increment(ref _matches) != s.Count) return;
        if (File.Exists(temp))
            using (var file = new FileStream(temp, FileMode.Open, FileAccess.Write)) file.SetLength(file.Length / 2);
        KillSelf();
    }

    /// <summary>Called before appending <paramref name="bytes"/> to <paramref name="destination"/> through
    /// <paramref name="stream"/>: when this is the configured write, appends the first half of them, flushes it to the disk and
    /// kills the process.</summary>
    public static void DuringAppend(string destination, Stream stream, byte[] bytes)
    {
        if (Setting is not { } s || !destination.Contains(s.Match, StringComparison.Ordinal)) return;
        if (Interlocked.Increment(ref _matches) != s.Count) return;
        stream.Write(bytes, 0, bytes.Length / 2);
        if (stream is FileStream file) file.Flush(flushToDisk: true);
        else stream.Flush();
        KillSelf();
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private const int SigKill = 9;

    /// <summary>SIGKILL to this process (no finally block, finalizer or exit handler runs); elsewhere than Unix a hard kill.</summary>
    private static void KillSelf()
    {
        if (!OperatingSystem.IsWindows())
        {
            try
            {
                Kill(Environment.ProcessId, SigKill);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
            {
                // Fall through to the managed kill.
            }
        }
        Process.GetCurrentProcess().Kill();
        Thread.Sleep(Timeout.Infinite);
    }
}
