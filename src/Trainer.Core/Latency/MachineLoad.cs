using System.Globalization;

namespace Trainer.Core.Latency;

/// <summary>
/// How busy the other processes keep this machine's CPUs right now. The 1-minute load average cannot tell: right after
/// a training stage it still shows this process's own two busy cores for a minute. Instead two samples of /proc/stat
/// (all CPU time) and /proc/self/stat (this process's) a short while apart, while this process waits: busy time minus
/// our own, in cores.
/// </summary>
public static class MachineLoad
{
    /// <summary>Cores kept busy by other processes over <paramref name="window"/> (default 300 ms), or null where /proc is missing.</summary>
    public static double? OtherBusyCores(TimeSpan? window = null)
    {
        try
        {
            if (!File.Exists("/proc/stat") || !File.Exists("/proc/self/stat")) return null;
            var (busy0, total0) = Machine();
            long own0 = Own();
            Thread.Sleep(window ?? TimeSpan.FromMilliseconds(300));
            var (busy1, total1) = Machine();
            long own1 = Own();
            long elapsed = total1 - total0;
            if (elapsed <= 0) return null;
            double cores = Environment.ProcessorCount;
            // /proc/stat sums jiffies over all CPUs: a fraction of the elapsed total is a fraction of all cores.
            double busyCores = (double)(busy1 - busy0) / elapsed * cores;
            double ownCores = (double)(own1 - own0) / elapsed * cores;
            return Math.Max(0, busyCores - ownCores);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>Busy and total jiffies of the machine (first line of /proc/stat: user nice system idle iowait irq softirq steal ...).</summary>
    private static (long Busy, long Total) Machine()
    {
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
            .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        long total = fields.Sum();
        long idle = fields[3] + fields[4];
        return (total - idle, total);
    }

    /// <summary>utime + stime of this process in jiffies (fields 14 and 15 of /proc/self/stat, after the command name).</summary>
    private static long Own()
    {
        var text = File.ReadAllText("/proc/self/stat");
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }
}
