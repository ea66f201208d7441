using Trainer.Core.Data;
using Trainer.Core.Tests.Data;

namespace Trainer.Core.Tests.Fuzz;

/// <summary>IDX files damaged every way the fuzz suite knows: each is one InvalidDataException naming the file.</summary>
public sealed class IdxFuzzTests : IDisposable
{
    private readonly IdxTestFiles _files = new();

    public void Dispose() => _files.Dispose();

    /// <summary>
    /// Bytes 4-9 of a gzip file are its time stamp, flags and OS byte: they carry no data and no check, so a flip there
    /// leaves the same data set (proved by <see cref="Flips_in_the_gzip_time_stamp_and_os_bytes_leave_the_same_data"/>).
    /// </summary>
    private static readonly (int, int) GzipStampAndOs = (4, 10);

    private string Images(bool gzip)
    {
        var random = new Random(4);
        var pixels = new byte[20 * 28 * 28];
        random.NextBytes(pixels);
        return _files.WriteIdx(gzip ? "images.gz" : "images", [20, 28, 28], pixels, gzip);
    }

    public static TheoryData<DamageKind, int> Damages() => new()
    {
        { DamageKind.Empty, 0 }, { DamageKind.Truncated, 1 }, { DamageKind.Truncated, 2 }, { DamageKind.Truncated, 3 },
        { DamageKind.Flipped, 1 }, { DamageKind.Flipped, 2 }, { DamageKind.Flipped, 3 }, { DamageKind.Directory, 0 },
    };

    private static InvalidDataException ReadFails(string path, string damage)
    {
        var error = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path));
        Assert.True(error.Message.Contains($"'{path}'"), $"{damage}: {error.Message}");
        return error;
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_gzip_idx_file_is_one_InvalidDataException_naming_it(DamageKind kind, int seed)
    {
        var path = Images(gzip: true);
        var damage = kind == DamageKind.Flipped ? Damage.Flip(path, seed, skip: GzipStampAndOs) : BinaryFileFuzzTests.Apply(kind, seed, path);
        var error = ReadFails(path, damage);
        Assert.True(kind != DamageKind.Directory || error.Message.Contains("is a directory"), error.Message);
    }

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_raw_idx_header_or_length_is_one_InvalidDataException_naming_it(DamageKind kind, int seed)
    {
        // Raw IDX has no checksum: a changed pixel is another valid image, so flips go to the 16 header bytes only.
        var path = Images(gzip: false);
        var damage = kind == DamageKind.Flipped
            ? Damage.Flip(path, seed, count: 1, skip: (16, int.MaxValue))
            : BinaryFileFuzzTests.Apply(kind, seed, path);
        ReadFails(path, damage);
    }

    [UnreadableFact]
    public void An_unreadable_idx_file_is_one_InvalidDataException_saying_so()
    {
        var path = Images(gzip: true);
        Damage.Unreadable(path);
        Assert.Contains("permission denied", Permissions.Enforced(() => ReadFails(path, "mode 000")).Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Flips_in_the_gzip_time_stamp_and_os_bytes_leave_the_same_data(int seed)
    {
        var path = Images(gzip: true);
        var before = IdxReader.Read(path);
        var bytes = File.ReadAllBytes(path);
        var random = new Random(seed);
        for (int at = 4; at < 10; at++) bytes[at] ^= (byte)random.Next(1, 256);
        File.WriteAllBytes(path, bytes);
        Assert.Equal(before.Data, IdxReader.Read(path).Data);
    }

    private string DataSet()
    {
        foreach (var (prefix, count) in new[] { ("train", 12), ("t10k", 8) })
        {
            _files.WriteIdx($"{prefix}-images-idx3-ubyte.gz", [count, 28, 28], new byte[count * 784], gzip: true);
            _files.WriteIdx($"{prefix}-labels-idx1-ubyte.gz", [count], new byte[count], gzip: true);
        }
        return _files.Directory;
    }

    [Fact]
    public void Another_split_s_file_in_place_of_a_training_file_is_refused_naming_both()
    {
        var folder = DataSet();
        var labels = Path.Combine(folder, "train-labels-idx1-ubyte.gz");
        Damage.Replace(labels, Path.Combine(folder, "t10k-labels-idx1-ubyte.gz"));
        var error = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(folder).Dispose());
        Assert.Contains($"'{Path.Combine(folder, "train-images-idx3-ubyte.gz")}' has 12 images, '{labels}' has 8 labels", error.Message);
        Damage.Replace(labels, Path.Combine(folder, "t10k-images-idx3-ubyte.gz"));
        Assert.Contains($"'{labels}' holds dimensions [8, 28, 28]; expected [N]", Assert.Throws<InvalidDataException>(() => FashionMnist.Load(folder).Dispose()).Message);
    }

    [Fact]
    public void A_directory_in_place_of_a_data_file_is_named_not_reported_missing()
    {
        var folder = DataSet();
        var images = Path.Combine(folder, "t10k-images-idx3-ubyte.gz");
        Damage.WithDirectory(images);
        var error = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(folder).Dispose());
        Assert.Equal($"'{images}' is a directory, not a Fashion-MNIST IDX file.", error.Message);
    }
}
