using System.Runtime.InteropServices;

namespace Trainer.Host.Cli;

/// <summary>
/// Ends a `trainer trial --worker` whose parent (the search that started it) has died, e.g. of SIGKILL: such a worker would
/// otherwise finish its current trial for nobody, competing with the resumed search for the machine's cores. The watch polls
/// the parent's process id (Linux and macOS re-parent an orphan, so the id changes) and kills this process with SIGKILL when it
/// changes; a result it was writing is left as a temporary file (results are written to a temporary file renamed into place),
/// which the resumed search never reads. PR_SET_PDEATHSIG is not used: it fires when the parent's forking thread ends, and the
/// pool starts its workers from threads that end with each batch.
/// </summary>
internal static class ParentWatch
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    [DllImport("libc", EntryPoint = "getppid")]
    private static extern int GetParentId();

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private const int SigKill = 9;

    /// <summary>Starts the watch on a background thread (no-op on Windows); returns false when it could not start.</summary>
    public static bool Start()
    {
        if (OperatingSystem.IsWindows()) return false;
        int parent;
        try
        {
            parent = GetParentId();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
        if (parent <= 1) return false;   // started by init or a container's first process: nothing to watch
        new Thread(() =>
        {
            while (GetParentId() == parent) Thread.Sleep(Interval);
            Kill(Environment.ProcessId, SigKill);
        }) { IsBackground = true, Name = "parent-watch" }.Start();
        return true;
    }
}
