using System.Runtime.InteropServices;

namespace Trainer.Host.Tests.Crash;

/// <summary>Linux process groups for the crash tests: SIGKILL to a whole group, and the live members of a group (from /proc).</summary>
internal static class ProcessGroups
{
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private const int SigKill = 9;

    /// <summary>SIGKILL to every process of the group <paramref name="groupId"/> (kill(-pgid, SIGKILL)).</summary>
    public static void Kill(int groupId)
    {
        if (SendSignal(-groupId, SigKill) != 0)
            throw new InvalidOperationException($"kill(-{groupId}, SIGKILL) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>The process ids of group <paramref name="groupId"/> that are alive (zombies, dead but not yet reaped, are not).</summary>
    public static IReadOnlyList<int> Members(int groupId)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;   // it ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }
            // pid (comm) state ppid pgrp ...: the name may hold spaces and parentheses, so parse after its last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields[0] != "Z" && fields[0] != "X" && int.Parse(fields[2]) == groupId) members.Add(pid);
        }
        return members;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for group <paramref name="groupId"/> to have no live process; returns
    /// the ones still alive then (empty when it emptied).</summary>
    public static IReadOnlyList<int> WaitEmpty(int groupId, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var left = Members(groupId);
            if (left.Count == 0 || clock.Elapsed > timeout) return left;
            Thread.Sleep(50);
        }
    }
}
