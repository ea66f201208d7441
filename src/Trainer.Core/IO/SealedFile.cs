using System.Security.Cryptography;

namespace Trainer.Core.IO;

/// <summary>
/// The layout the project's binary model files share: magic bytes, the header's length (int32) and bytes, the payload's
/// length (int64), a SHA-256 of header and payload, then the payload. Written through <see cref="AtomicFile"/> and flushed
/// to the disk; read back only when every length and the checksum agree.
/// </summary>
internal static class SealedFile
{
    /// <summary>Writes <paramref name="header"/> and <paramref name="payload"/> behind <paramref name="magic"/> to <paramref name="path"/>.</summary>
    public static void Write(string path, byte[] magic, byte[] header, MemoryStream payload) => AtomicFile.Write(path, temp =>
    {
        using var file = new FileStream(temp, FileMode.Create, FileAccess.Write);
        using var writer = new BinaryWriter(file);
        writer.Write(magic);
        writer.Write(header.Length);
        writer.Write(header);
        writer.Write(payload.Length);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(header);
        sha.AppendData(payload.GetBuffer(), 0, (int)payload.Length);
        writer.Write(sha.GetHashAndReset());
        writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
        writer.Flush();
        file.Flush(flushToDisk: true);
    });

    /// <summary>The header and payload of a file's bytes, whose magic the caller has checked.</summary>
    /// <param name="bytes">The whole file.</param>
    /// <param name="magicLength">Length of its magic bytes.</param>
    /// <param name="hashesHeader">False for an older layout whose checksum covered the payload only.</param>
    /// <param name="truncated">Builds the error for a length field that does not fit the file (its problem in words).</param>
    /// <param name="damaged">Builds the error for a checksum that does not match.</param>
    public static (byte[] Header, byte[] Payload) Read(byte[] bytes, int magicLength, bool hashesHeader,
        Func<string, Exception> truncated, Func<string, Exception> damaged)
    {
        var span = bytes.AsSpan();
        int at = magicLength;
        int headerLength = at + 4 <= span.Length ? BitConverter.ToInt32(span.Slice(at, 4)) : -1;
        at += 4;
        if (headerLength < 2 || headerLength > span.Length - at)
            throw truncated($"its header length field says {headerLength} bytes, {Math.Max(0, span.Length - at)} follow");
        var header = span.Slice(at, headerLength);
        at += headerLength;
        long length = at + 8 <= span.Length ? BitConverter.ToInt64(span.Slice(at, 8)) : -1;
        at += 8;
        if (length < 0 || at + 32 > span.Length || length != span.Length - at - 32)
            throw truncated($"it holds {Math.Max(0, span.Length - at - 32)} bytes of tensor data where its header says {length}");
        var payload = span[(at + 32)..];
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        if (hashesHeader) sha.AppendData(header);
        sha.AppendData(payload);
        if (!sha.GetHashAndReset().AsSpan().SequenceEqual(span.Slice(at, 32))) throw damaged("its contents do not match its checksum");
        return (header.ToArray(), payload.ToArray());
    }
}
