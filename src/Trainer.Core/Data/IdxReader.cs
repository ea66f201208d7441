using System.Buffers.Binary;
using System.IO.Compression;

namespace Trainer.Core.Data;

/// <summary>
/// Reads IDX files (the big-endian format of MNIST and Fashion-MNIST), gzip-compressed or raw.
/// Only the unsigned-byte element type (code 0x08) is supported.
/// </summary>
/// <remarks>
/// Layout: two zero bytes, a type code, the dimension count <c>n</c>, then <c>n</c> big-endian
/// 32-bit sizes, then the payload. Compression is detected from the gzip signature
/// (1F 8B), so a file's name does not have to end in <c>.gz</c>.
/// </remarks>
public static class IdxReader
{
    /// <summary>The IDX type code of unsigned bytes, the only one supported.</summary>
    public const byte UnsignedByteType = 0x08;

    /// <summary>Largest dimension count accepted; real files have 1 to 4.</summary>
    public const int MaxDimensions = 16;

    private const int BufferSize = 1 << 20;

    /// <summary>Reads the IDX file at <paramref name="path"/>.</summary>
    /// <param name="path">Path of a raw or gzip-compressed IDX file.</param>
    /// <returns>The dimensions and the payload bytes.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">
    /// The file is corrupt, truncated, too long, not uint8, or its header is not IDX, or it cannot be read (a directory in
    /// its place, no permission); the message names the file.
    /// </exception>
    public static IdxArray Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new InvalidDataException($"'{path}' is a directory, not an IDX file.");
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize);
        }
        catch (UnauthorizedAccessException)
        {
            throw new InvalidDataException($"'{path}' cannot be read: permission denied.");
        }
        catch (IOException e) when (e is not FileNotFoundException)
        {
            throw new InvalidDataException($"'{path}' cannot be read: {e.Message}", e);
        }
        using var _ = file;
        var compressed = IsGzip(file);
        file.Position = 0;
        using var stream = compressed ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        return Read(stream, path);
    }

    /// <summary>Reads an IDX stream; <paramref name="name"/> is used in error messages.</summary>
    /// <param name="stream">Uncompressed IDX content, positioned at the magic number.</param>
    /// <param name="name">Name of the source (usually its path) to put in error messages.</param>
    /// <returns>The dimensions and the payload bytes.</returns>
    /// <exception cref="InvalidDataException">The content is not a valid uint8 IDX array.</exception>
    public static IdxArray Read(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> magic = stackalloc byte[4];
        ReadHeader(stream, magic, name, "the 4-byte magic number");
        if (magic[0] != 0 || magic[1] != 0)
            throw new InvalidDataException(
                $"'{name}' is not an IDX file: its magic number starts with 0x{magic[0]:X2} 0x{magic[1]:X2}, expected 0x00 0x00.");
        if (magic[2] != UnsignedByteType)
            throw new InvalidDataException(
                $"'{name}' has IDX type code 0x{magic[2]:X2} ({TypeName(magic[2])}); only 0x08 (unsigned byte) is supported.");
        int rank = magic[3];
        if (rank < 1 || rank > MaxDimensions)
            throw new InvalidDataException(
                $"'{name}' declares {rank} dimensions; expected 1 to {MaxDimensions}.");

        var dims = new int[rank];
        Span<byte> sizeBytes = stackalloc byte[4 * rank];
        ReadHeader(stream, sizeBytes, name, $"the sizes of {rank} dimensions");
        long expected = 1;
        for (var i = 0; i < rank; i++)
        {
            var size = BinaryPrimitives.ReadInt32BigEndian(sizeBytes.Slice(4 * i, 4));
            if (size < 0)
                throw new InvalidDataException($"'{name}': dimension {i} has a negative size ({size}).");
            dims[i] = size;
            expected = expected * size;
            if (expected > Array.MaxLength)
                throw new InvalidDataException(
                    $"'{name}': dimensions [{string.Join(", ", dims[..(i + 1)])}...] exceed the largest supported payload ({Array.MaxLength} bytes).");
        }

        var data = GC.AllocateUninitializedArray<byte>((int)expected);
        var found = ReadUpTo(stream, data, name);
        if (found < data.Length)
            throw new InvalidDataException(
                $"'{name}': payload size mismatch for dimensions [{string.Join(", ", dims)}]: expected {expected} bytes, found {found} (file truncated?).");
        var extra = CountRemaining(stream, name);
        if (extra > 0)
            throw new InvalidDataException(
                $"'{name}': payload size mismatch for dimensions [{string.Join(", ", dims)}]: expected {expected} bytes, found {expected + extra}.");
        return new IdxArray(dims, data);
    }

    private static bool IsGzip(Stream file)
    {
        Span<byte> signature = stackalloc byte[2];
        return file.ReadAtLeast(signature, 2, throwOnEndOfStream: false) == 2 && signature[0] == 0x1F && signature[1] == 0x8B;
    }

    private static void ReadHeader(Stream stream, Span<byte> buffer, string name, string what)
    {
        var read = ReadUpTo(stream, buffer, name);
        if (read < buffer.Length)
            throw new InvalidDataException(
                $"'{name}' is truncated: it ends after {read} of the {buffer.Length} bytes of {what}.");
    }

    private static long CountRemaining(Stream stream, string name)
    {
        Span<byte> scratch = stackalloc byte[4096];
        long total = 0;
        int read;
        while ((read = ReadUpTo(stream, scratch, name)) > 0) total += read;
        return total;
    }

    /// <summary>Fills <paramref name="buffer"/> unless the stream ends first; returns the bytes read.</summary>
    private static int ReadUpTo(Stream stream, Span<byte> buffer, string name)
    {
        try
        {
            return stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        }
        catch (InvalidDataException e)
        {
            // Raised by GZipStream on corrupt compressed data; its message does not say which file.
            throw new InvalidDataException($"'{name}' is corrupt: {e.Message}", e);
        }
    }

    private static string TypeName(byte code) => code switch
    {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "16-bit integer",
        0x0C => "32-bit integer",
        0x0D => "32-bit float",
        0x0E => "64-bit float",
        _ => "unknown type",
    };
}
