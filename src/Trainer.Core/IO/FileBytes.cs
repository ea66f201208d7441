using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Trainer.Core.IO;

/// <summary>
/// Reads a whole input file for a reader that must report every problem as one error naming the file: nothing there, a
/// directory in its place, no read permission, an I/O error, or (for text formats) bytes that are not UTF-8. Each reader
/// passes the exception type it documents (its <c>fail</c> argument), so callers keep catching what they caught before.
/// </summary>
public static class FileBytes
{
    /// <summary>True when <paramref name="path"/> is a file, false when nothing is there; a directory in its place is an error.</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What the file is, for the message ("Checkpoint", "Compression manifest").</param>
    /// <param name="fail">Makes the reader's exception from a message.</param>
    public static bool Exists(string path, string what, Func<string, Exception> fail)
    {
        if (Directory.Exists(path)) throw fail($"{what} '{path}' is a directory, not a file.");
        return File.Exists(path);
    }

    /// <summary>The bytes of <paramref name="path"/>; a missing, unreadable or empty file throws <paramref name="fail"/>'s exception.</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">What the file is, for the message.</param>
    /// <param name="fail">Makes the reader's exception from a message.</param>
    /// <param name="allowEmpty">Return an empty array for an empty file instead of failing.</param>
    public static byte[] Read(string path, string what, Func<string, Exception> fail, bool allowEmpty = false)
    {
        if (!Exists(path, what, fail)) throw fail($"{what} '{path}' does not exist.");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException)
        {
            throw fail($"{what} '{path}' cannot be read: permission denied.");
        }
        catch (IOException e)
        {
            throw fail($"{what} '{path}' cannot be read: {e.Message}");
        }
        if (bytes.Length == 0 && !allowEmpty) throw fail($"{what} '{path}' is empty (0 bytes); it is damaged or was never written.");
        return bytes;
    }

    /// <summary>
    /// The text of <paramref name="path"/>, decoded strictly: a byte that is not valid UTF-8 is an error naming its offset.
    /// A lenient decoder would turn it into U+FFFD inside a string and the damaged file would load with a changed name.
    /// </summary>
    public static string ReadText(string path, string what, Func<string, Exception> fail) => Text(Read(path, what, fail), path, what, fail);

    /// <summary>Decodes <paramref name="bytes"/> of <paramref name="path"/> as strict UTF-8 (a leading byte-order mark is dropped).</summary>
    public static string Text(ReadOnlySpan<byte> bytes, string path, string what, Func<string, Exception> fail)
    {
        if (bytes.StartsWith(Encoding.UTF8.Preamble)) bytes = bytes[Encoding.UTF8.Preamble.Length..];
        var chars = ArrayPool<char>.Shared.Rent(bytes.Length + 1);
        try
        {
            var status = Utf8.ToUtf16(bytes, chars, out int read, out int written, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
                throw fail($"{what} '{path}' is damaged: the byte at offset {read} (0x{bytes[read]:X2}) is not valid UTF-8 text.");
            return new string(chars, 0, written);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
