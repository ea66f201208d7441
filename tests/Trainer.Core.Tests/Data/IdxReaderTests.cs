using System.IO.Compression;
using Trainer.Core.Data;

namespace Trainer.Core.Tests.Data;

public class IdxReaderTests
{
    private static byte[] Payload(int length)
    {
        var data = new byte[length];
        new Random(7).NextBytes(data);
        return data;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RoundTrip_ReturnsExactDimsAndBytes(bool gzip)
    {
        using var files = new IdxTestFiles();
        int[] dims = [5, 3, 4];
        var payload = Payload(60);
        var path = files.WriteIdx(gzip ? "images.gz" : "images", dims, payload, gzip);

        var read = IdxReader.Read(path);

        Assert.Equal(dims, read.Dims);
        Assert.Equal(payload, read.Data);
        Assert.Equal(new long[] { 5, 3, 4 }, read.Shape);
    }

    [Fact]
    public void GzipIsDetectedFromContentNotName()
    {
        using var files = new IdxTestFiles();
        var payload = Payload(7);
        var path = files.WriteIdx("labels-without-extension", [7], payload, gzip: true);

        Assert.Equal(payload, IdxReader.Read(path).Data);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BadMagic_NamesTheFile(bool gzip)
    {
        using var files = new IdxTestFiles();
        var path = files.Write("bad-magic", IdxTestFiles.Encode([4], Payload(4), magic0: 0x12), gzip);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void WrongTypeCode_NamesTheFileAndTheCode()
    {
        using var files = new IdxTestFiles();
        var path = files.Write("floats.gz", IdxTestFiles.Encode([1], Payload(4), typeCode: 0x0D), gzip: true);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("0x0D", e.Message);
    }

    [Fact]
    public void ZeroDimensions_AreRejected()
    {
        using var files = new IdxTestFiles();
        var path = files.Write("rank0", IdxTestFiles.Encode([], []), gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("0 dimensions", e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TruncatedPayload_NamesTheFileAndTheSizes(bool gzip)
    {
        using var files = new IdxTestFiles();
        var full = IdxTestFiles.Encode([10, 10], Payload(100));
        var path = files.Write("truncated", full[..^30], gzip);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("expected 100 bytes, found 70", e.Message);
    }

    [Fact]
    public void TrailingBytes_AreReportedAsSizeMismatch()
    {
        using var files = new IdxTestFiles();
        var path = files.Write("too-long", [.. IdxTestFiles.Encode([3], Payload(3)), 1, 2], gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("expected 3 bytes, found 5", e.Message);
    }

    [Fact]
    public void TruncatedHeader_NamesTheFile()
    {
        using var files = new IdxTestFiles();
        var path = files.Write("short-header", IdxTestFiles.Encode([3, 3], Payload(9))[..6], gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void CorruptGzip_NamesTheFile()
    {
        using var files = new IdxTestFiles();
        var good = files.WriteIdx("good.gz", [64], Payload(64), gzip: true);
        var bytes = File.ReadAllBytes(good);
        for (var i = 10; i < bytes.Length - 8; i++) bytes[i] ^= 0x5A;
        var path = files.Write("corrupt.gz", bytes, gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void TruncatedGzipFile_NamesTheFile()
    {
        using var files = new IdxTestFiles();
        var good = files.WriteIdx("whole.gz", [50, 40], Payload(2000), gzip: true);
        var bytes = File.ReadAllBytes(good);
        var path = files.Write("cut.gz", bytes[..(bytes.Length / 2)], gzip: false);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void MissingFile_ThrowsFileNotFound()
    {
        using var files = new IdxTestFiles();
        var path = Path.Combine(files.Directory, "absent.gz");

        var e = Assert.Throws<FileNotFoundException>(() => IdxReader.Read(path));
        Assert.Contains("absent.gz", e.Message);
    }
}
