using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Trainer.Core.Tests.Fuzz;

/// <summary>The ways a file the project reads is damaged in the fuzz tests.</summary>
public enum DamageKind
{
    /// <summary>Zero bytes.</summary>
    Empty,
    /// <summary>Cut at a seeded length between 1 and its length - 1.</summary>
    Truncated,
    /// <summary>Seeded bytes changed (see <see cref="Damage.Flip"/>).</summary>
    Flipped,
    /// <summary>Replaced by the same kind of file of another model (other widths or another architecture).</summary>
    Foreign,
    /// <summary>An empty directory in its place.</summary>
    Directory,
    /// <summary>No read permission (see <see cref="Permissions"/>).</summary>
    Unreadable,
}

/// <summary>
/// Seeded damage of a file in place, so a failing case is reproduced by its seed. Each helper returns a short
/// description (offsets, lengths) for the assertion messages.
/// </summary>
public static class Damage
{
    /// <summary>Empties the file.</summary>
    public static string Empty(string path)
    {
        File.WriteAllBytes(path, []);
        return "emptied";
    }

    /// <summary>Cuts the file at a length drawn from [1, length - 1] with <paramref name="seed"/>.</summary>
    public static string Truncate(string path, int seed)
    {
        var bytes = File.ReadAllBytes(path);
        int length = new Random(seed).Next(1, bytes.Length);
        File.WriteAllBytes(path, bytes[..length]);
        return $"truncated to {length} of {bytes.Length} bytes (seed {seed})";
    }

    /// <summary>
    /// Changes <paramref name="count"/> bytes at distinct seeded offsets, at least two apart, outside
    /// <paramref name="skip"/> (ranges [start, end) that carry neither data nor a check, named by each caller).
    /// Binary files get each byte XORed with a seeded non-zero value. Text files (<paramref name="text"/>) get bit 7
    /// flipped: in UTF-8 text that always leaves an invalid byte sequence, whereas a flip of the low bits can make
    /// another valid document (a digit for a digit) that no reader can tell from an edit.
    /// </summary>
    public static string Flip(string path, int seed, int count = 3, bool text = false, params (int Start, int End)[] skip)
    {
        var bytes = File.ReadAllBytes(path);
        var random = new Random(seed);
        var offsets = new SortedSet<int>();
        while (offsets.Count < Math.Min(count, bytes.Length / 3))
        {
            int at = random.Next(bytes.Length);
            if (skip.Any(r => at >= r.Start && at < r.End) || offsets.Any(o => Math.Abs(o - at) < 2)) continue;
            offsets.Add(at);
        }
        foreach (var at in offsets) bytes[at] ^= text ? (byte)0x80 : (byte)random.Next(1, 256);
        File.WriteAllBytes(path, bytes);
        return $"bytes at {string.Join(", ", offsets)} of {bytes.Length} changed (seed {seed})";
    }

    /// <summary>Replaces the file by a copy of <paramref name="foreign"/>.</summary>
    public static string Replace(string path, string foreign)
    {
        File.Copy(foreign, path, overwrite: true);
        return $"replaced by {foreign}";
    }

    /// <summary>Replaces the file by an empty directory of the same name.</summary>
    public static string WithDirectory(string path)
    {
        File.Delete(path);
        System.IO.Directory.CreateDirectory(path);
        return "replaced by a directory";
    }

    /// <summary>Takes every permission from the file (mode 000).</summary>
    public static string Unreadable(string path)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("Unix file modes do not exist on Windows.");
        File.SetUnixFileMode(path, UnixFileMode.None);
        return "mode 000";
    }

    /// <summary>
    /// Every file and directory under <paramref name="root"/> with the SHA-256 of each file's bytes, so a run that wrote,
    /// created or removed anything is seen. A file this process cannot read is recorded by its size and time stamp.
    /// </summary>
    public static SortedDictionary<string, string> Hashes(string root)
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (!System.IO.Directory.Exists(root)) return result;
        foreach (var dir in System.IO.Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
            result[Path.GetRelativePath(root, dir) + "/"] = "directory";
        foreach (var file in System.IO.Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            string value;
            try
            {
                value = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
            }
            catch (UnauthorizedAccessException)
            {
                var info = new FileInfo(file);
                value = $"unreadable, {info.Length} bytes, written {info.LastWriteTimeUtc:O}";
            }
            result[Path.GetRelativePath(root, file)] = value;
        }
        return result;
    }

    /// <summary>Lines of <paramref name="before"/> and <paramref name="after"/> that differ, for an assertion message.</summary>
    public static string Differences(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        string.Join("; ", before.Keys.Union(after.Keys).Where(k => before.GetValueOrDefault(k) != after.GetValueOrDefault(k))
            .Select(k => $"{k}: {(before.ContainsKey(k) ? "changed" : "created")}{(after.ContainsKey(k) ? "" : " (removed)")}"));
}

/// <summary>
/// Makes mode-000 files unreadable for the calling thread even when the tests run as root. Root reads such files through
/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; Linux keeps capabilities per thread, so <see cref="Enforced"/> drops the two
/// from the calling thread's effective set (keeping them permitted, to raise them again) for the duration of a call: the
/// thread is then checked as the files' owner like any user, and every other file stays readable.
/// </summary>
public static class Permissions
{
    private const uint Version3 = 0x20080522;
    private const uint DacBits = (1u << 1) | (1u << 2);   // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH

    /// <summary>Null when an unreadable file can be made for this process; otherwise why not (the reason a test is skipped).</summary>
    public static readonly string? WhyNotEnforceable = Probe();

    /// <summary>Runs <paramref name="action"/> on this thread with read permission checks enforced.</summary>
    public static T Enforced<T>(Func<T> action)
    {
        if (!OperatingSystem.IsLinux() || !HasDacCapabilities(out var header, out var data)) return action();
        uint saved = data[0].Effective;
        data[0].Effective &= ~DacBits;
        if (capset(ref header, data) != 0) throw new InvalidOperationException($"capset failed ({Marshal.GetLastPInvokeError()})");
        try
        {
            return action();
        }
        finally
        {
            data[0].Effective = saved;
            capset(ref header, data);
        }
    }

    private static bool HasDacCapabilities(out CapHeader header, out CapData[] data)
    {
        header = new CapHeader { Version = Version3, Pid = 0 };
        data = new CapData[2];
        return capget(ref header, data) == 0 && (data[0].Effective & DacBits) != 0;
    }

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "mode 000 is a Unix permission; this is not Linux";
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "x");
            File.SetUnixFileMode(file, UnixFileMode.None);
            return Enforced(() =>
            {
                try
                {
                    File.ReadAllBytes(file);
                    return "this process reads mode-000 files (root) and cannot drop CAP_DAC_OVERRIDE for a thread";
                }
                catch (UnauthorizedAccessException)
                {
                    return null;
                }
            });
        }
        catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException)
        {
            return $"cannot drop CAP_DAC_OVERRIDE for a thread ({e.Message})";
        }
        finally
        {
            File.Delete(file);
        }
    }

    [DllImport("libc", SetLastError = true)] private static extern int capget(ref CapHeader header, [In, Out] CapData[] data);
    [DllImport("libc", SetLastError = true)] private static extern int capset(ref CapHeader header, [In] CapData[] data);

    [StructLayout(LayoutKind.Sequential)] private struct CapHeader { public uint Version; public int Pid; }
    [StructLayout(LayoutKind.Sequential)] private struct CapData { public uint Effective; public uint Permitted; public uint Inheritable; }
}

/// <summary>A fact that is skipped, with the reason shown, where mode-000 files cannot be made unreadable.</summary>
public sealed class UnreadableFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> from <see cref="Permissions.WhyNotEnforceable"/>.</summary>
    public UnreadableFactAttribute()
    {
        if (Permissions.WhyNotEnforceable is { } reason) Skip = reason;
    }
}

/// <summary>A theory that is skipped, with the reason shown, where mode-000 files cannot be made unreadable.</summary>
public sealed class UnreadableTheoryAttribute : TheoryAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> from <see cref="Permissions.WhyNotEnforceable"/>.</summary>
    public UnreadableTheoryAttribute()
    {
        if (Permissions.WhyNotEnforceable is { } reason) Skip = reason;
    }
}
