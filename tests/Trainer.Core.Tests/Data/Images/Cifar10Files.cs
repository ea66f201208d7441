namespace Trainer.Core.Tests.Data.Images;

/// <summary>CIFAR-10 binary batch files in a temporary folder (deleted on dispose): record r of a file has label
/// (r + file) % 10 and pixel bytes <see cref="Pixel"/>.</summary>
internal sealed class Cifar10Files : IDisposable
{
    public const int RecordBytes = 3073;

    public Cifar10Files(string? subfolder = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "trainer-cifar-" + Guid.NewGuid().ToString("N"));
        Directory = subfolder is null ? Root : Path.Combine(Root, subfolder);
        System.IO.Directory.CreateDirectory(Directory);
    }

    /// <summary>The temporary folder.</summary>
    public string Root { get; }

    /// <summary>Where the batch files are.</summary>
    public string Directory { get; }

    /// <summary>Byte of channel c, row y, column x of the image with global index <paramref name="image"/>.</summary>
    public static byte Pixel(int image, int c, int y, int x) => (byte)((image * 37 + c * 91 + y * 7 + x * 3) % 256);

    /// <summary>Writes <paramref name="records"/> records whose images are numbered from <paramref name="firstImage"/>.</summary>
    public string Write(string name, int records, int firstImage, int labelOffset = 0)
    {
        var bytes = new byte[records * RecordBytes];
        for (var r = 0; r < records; r++)
        {
            bytes[r * RecordBytes] = (byte)((r + labelOffset) % 10);
            for (var c = 0; c < 3; c++)
                for (var y = 0; y < 32; y++)
                    for (var x = 0; x < 32; x++)
                        bytes[r * RecordBytes + 1 + c * 1024 + y * 32 + x] = Pixel(firstImage + r, c, y, x);
        }
        var path = Path.Combine(Directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A standard small set: data_batch_1 (6 records), data_batch_2 (4), test_batch (5).</summary>
    public static Cifar10Files Standard(string? subfolder = null)
    {
        var files = new Cifar10Files(subfolder);
        files.Write("data_batch_1.bin", 6, 0);
        files.Write("data_batch_2.bin", 4, 6, labelOffset: 6);
        files.Write("test_batch.bin", 5, 100);
        return files;
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Root)) System.IO.Directory.Delete(Root, recursive: true);
    }
}
