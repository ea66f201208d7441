using System.Text;
using System.Text.RegularExpressions;

namespace Trainer.Core.IO;

/// <summary>
/// Writes files that matter (checkpoints, reports, plots) to a temporary file in the same folder and
/// renames it into place, so a crash or a failed write never leaves a half-written file or damages the
/// previous one. A process killed while writing leaves its temporary file (<c>.&lt;name&gt;.&lt;8 hex&gt;.tmp&lt;ext&gt;</c>)
/// behind; <see cref="RemoveStaleTemps"/> removes those when the run is resumed.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> with a temporary path (same folder and extension as
    /// <paramref name="path"/>), then renames it to <paramref name="path"/>; the folder is created if needed.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = TempPath(full);
        try
        {
            write(temp);
            WriteKillSwitch.BeforeRename(full, temp);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Writes <paramref name="contents"/> as UTF-8 without a byte-order mark.</summary>
    public static void WriteAllText(string path, string contents) =>
        Write(path, temp => File.WriteAllText(temp, contents, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)));

    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/> through a temporary file.</summary>
    public static void Copy(string source, string destination) =>
        Write(destination, temp => File.Copy(source, temp, overwrite: true));

    /// <summary>True for a file name <see cref="Write"/> uses for its temporary files: <c>.&lt;name&gt;.&lt;8 lowercase hex&gt;.tmp</c>
    /// followed by the destination's extension, if it has one.</summary>
    public static bool IsTempName(string fileName) => TempName().IsMatch(fileName);

    /// <summary>
    /// Deletes the temporary files of <see cref="Write"/> (<see cref="IsTempName"/>) in <paramref name="folder"/> and, with
    /// <paramref name="recursive"/>, its sub-folders: what a process killed while writing leaves behind. No other file is
    /// touched and a missing folder is no error. Call it only when no other process writes there (a resumed run owns its
    /// folders): a live writer's temporary file would be deleted under it. Returns the deleted paths.
    /// </summary>
    public static IReadOnlyList<string> RemoveStaleTemps(string folder, bool recursive = true)
    {
        if (!Directory.Exists(folder)) return [];
        var removed = new List<string>();
        var files = Directory.EnumerateFiles(folder, ".*.tmp*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly);
        foreach (var file in files.Where(f => IsTempName(Path.GetFileName(f))).ToList())
        {
            try
            {
                File.Delete(file);
                removed.Add(file);
            }
            catch (FileNotFoundException)
            {
                // Gone already.
            }
        }
        return removed;
    }

    private static string TempPath(string full) => Path.Combine(Path.GetDirectoryName(full)!,
        $".{Path.GetFileNameWithoutExtension(full)}.{Guid.NewGuid().ToString("N")[..8]}.tmp{Path.GetExtension(full)}");

    [GeneratedRegex(@"^\..*\.[0-9a-f]{8}\.tmp(\.[^.]*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex TempName();
}
