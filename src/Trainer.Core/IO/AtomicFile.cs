using System.Text;

namespace Trainer.Core.IO;

/// <summary>
/// Writes files that matter (checkpoints, reports, plots) to a temporary file in the same folder and
/// renames it into place, so a crash or a failed write never leaves a half-written file or damages the
/// previous one.
/// </summary>
public static class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> with a temporary path (same folder and extension as
    /// <paramref name="path"/>), then renames it to <paramref name="path"/>; the folder is created if needed.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = Path.Combine(Path.GetDirectoryName(full)!,
            $".{Path.GetFileNameWithoutExtension(full)}.{Guid.NewGuid().ToString("N")[..8]}.tmp{Path.GetExtension(full)}");
        try
        {
            write(temp);
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
}
