using System.Buffers.Binary;
using System.IO.Compression;

namespace Trainer.Core.Tests.Data;

/// <summary>Writes synthetic IDX files into a temporary folder deleted on dispose.</summary>
internal sealed class IdxTestFiles : IDisposable
{
    public IdxTestFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "trainer-idx-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>IDX bytes: magic (0, 0, type, rank), big-endian sizes, payload.</summary>
    public static byte[] Encode(int[] dims, byte[] payload, byte typeCode = 0x08, byte magic0 = 0)
    {
        var bytes = new byte[4 + 4 * dims.Length + payload.Length];
        bytes[0] = magic0;
        bytes[2] = typeCode;
        bytes[3] = (byte)dims.Length;
        for (var i = 0; i < dims.Length; i++)
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 + 4 * i, 4), dims[i]);
        payload.CopyTo(bytes, 4 + 4 * dims.Length);
        return bytes;
    }

    public string Write(string name, byte[] content, bool gzip)
    {
        var path = Path.Combine(Directory, name);
        if (!gzip)
        {
            File.WriteAllBytes(path, content);
            return path;
        }
        using var file = File.Create(path);
        using var zip = new GZipStream(file, CompressionLevel.Fastest);
        zip.Write(content);
        return path;
    }

    public string WriteIdx(string name, int[] dims, byte[] payload, bool gzip) => Write(name, Encode(dims, payload), gzip);

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); }
        catch (IOException) { }
    }
}
