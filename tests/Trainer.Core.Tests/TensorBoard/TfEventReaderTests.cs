using System.Text;
using TorchSharp;

namespace Trainer.Core.Tests.TensorBoard;

public class TfEventReaderTests
{
    [Fact]
    public void Crc32C_matches_the_standard_check_value()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
        // RFC 3720 (iSCSI) B.4 test vectors: 32 bytes of zeros, 32 bytes of 0xFF, 0..31.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
    }

    [Fact]
    public void Crc32C_agrees_with_the_crc_TorchSharp_writes_with()
    {
        var rng = new Random(1234);
        foreach (var size in new[] { 1, 7, 8, 9, 63, 64, 1000 })
        {
            var data = new byte[size];
            rng.NextBytes(data);
            Assert.Equal(TorchSharp.Utils.CRC32C.process(data), Crc32C.Compute(data));
        }
    }

    [Fact]
    public void Reads_back_exactly_what_SummaryWriter_wrote()
    {
        using var dir = new TempDir();
        var writer = torch.utils.tensorboard.SummaryWriter(dir.Path);
        Assert.Equal(dir.Path, writer.LogDir);
        var written = new List<(string Tag, int Step, float Value)>
        {
            ("train/loss", 0, 1.0f), ("train/loss", 1, 0.5f), ("train/loss", 2, 1f / 3f),
            ("val/accuracy", 7, 0.875f), ("odd/values", -3, -1.25e-30f), ("odd/values", int.MaxValue, 3.4e38f),
        };
        foreach (var (tag, step, value) in written)
            writer.add_scalar(tag, value, step, walltime: 1_700_000_000L + step);

        // One file, named events.out.tfevents.<ticks>.<host>.<pid>.<n>, straight in the log dir.
        var file = Assert.Single(Directory.GetFiles(dir.Path, "*", SearchOption.AllDirectories));
        Assert.Equal(dir.Path, Path.GetDirectoryName(file));
        var parts = Path.GetFileName(file).Split('.');
        Assert.Equal(["events", "out", "tfevents"], parts[..3]);
        Assert.Equal(Environment.ProcessId.ToString(), parts[^2]);

        var events = TfEventReader.ReadDirectory(dir.Path);
        Assert.Equal(written.Count + 1, events.Count);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Empty(events[0].Values);
        Assert.Equal(0L, events[0].Offset);

        var scalars = events.Skip(1).ToList();
        for (var i = 0; i < written.Count; i++)
        {
            var value = Assert.Single(scalars[i].Values);
            Assert.Equal(written[i].Tag, value.Tag);
            Assert.Equal(TfValueKind.Simple, value.Kind);
            Assert.Equal(written[i].Value, value.SimpleValue);
            Assert.Equal(written[i].Step, scalars[i].Step);
            Assert.Equal(1_700_000_000.0 + written[i].Step, scalars[i].WallTime);
            Assert.Null(scalars[i].FileVersion);
        }
    }

    [Fact]
    public void Reads_add_scalars_sub_directories_recursively()
    {
        using var dir = new TempDir();
        var writer = torch.utils.tensorboard.SummaryWriter(dir.Path);
        writer.add_scalars("acc", new Dictionary<string, float> { ["train"] = 0.75f, ["val"] = 0.5f }, 3);

        var trainEvents = TfEventReader.ReadDirectory(Path.Combine(dir.Path, "acc_train"));
        Assert.Equal(0.75f, trainEvents.SelectMany(e => e.Values).Single(v => v.Tag == "acc").SimpleValue);

        var all = TfEventReader.ReadDirectory(dir.Path);
        // Default file (version only) + two sub-directory files (version + one scalar each).
        Assert.Equal(3, all.Count(e => e.FileVersion == "brain.Event:2"));
        var accs = all.SelectMany(e => e.Values.Select(v => (e.Step, v))).Where(x => x.v.Tag == "acc").ToList();
        Assert.Equal([0.5f, 0.75f], accs.Select(x => x.v.SimpleValue!.Value).Order());
        Assert.All(accs, x => Assert.Equal(3L, x.Step));
    }

    [Fact]
    public void Any_single_flipped_byte_is_reported_with_file_and_offset()
    {
        using var dir = new TempDir();
        var file = WriteSmallFile(dir.Path);
        var original = File.ReadAllBytes(file);
        var recordStarts = TfEventReader.ReadFile(file).Select(e => e.Offset).ToList();

        for (var i = 0; i < original.Length; i++)
        {
            var damaged = (byte[])original.Clone();
            damaged[i] ^= 0x10;
            File.WriteAllBytes(file, damaged);
            var ex = Assert.Throws<TfEventFormatException>(() => TfEventReader.ReadFile(file));
            Assert.Contains("CRC mismatch", ex.Message);
            Assert.Contains(file, ex.Message);
            var expectedRecord = recordStarts.Last(s => s <= i);
            Assert.Equal(expectedRecord, ex.Offset);
            Assert.Contains($"offset {expectedRecord}", ex.Message);
        }
    }

    [Fact]
    public void A_truncated_file_is_reported_with_file_and_offset()
    {
        using var dir = new TempDir();
        var file = WriteSmallFile(dir.Path);
        var original = File.ReadAllBytes(file);
        var recordStarts = TfEventReader.ReadFile(file).Select(e => e.Offset).ToHashSet();
        Assert.True(recordStarts.Count >= 3);

        for (var length = 1; length < original.Length; length++)
        {
            File.WriteAllBytes(file, original[..length]);
            if (recordStarts.Contains(length))
            {
                // Cut exactly between records: a shorter but valid file.
                Assert.Equal(recordStarts.Count(s => s < length), TfEventReader.ReadFile(file).Count);
                continue;
            }
            var ex = Assert.Throws<TfEventFormatException>(() => TfEventReader.ReadFile(file));
            Assert.Contains("truncated", ex.Message);
            Assert.Contains(file, ex.Message);
            Assert.Equal(recordStarts.Where(s => s < length).Max(), ex.Offset);
        }
    }

    [Fact]
    public void A_record_with_valid_crcs_but_broken_protobuf_is_reported()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "events.out.tfevents.1.test");
        byte[] payload = [0x2A, 0x05, 0x0A]; // field 5 (summary), length 5, only 1 byte present
        var record = new byte[12 + payload.Length + 4];
        BitConverter.TryWriteBytes(record.AsSpan(0, 8), (ulong)payload.Length);
        BitConverter.TryWriteBytes(record.AsSpan(8, 4), Crc32C.Mask(Crc32C.Compute(record.AsSpan(0, 8))));
        payload.CopyTo(record, 12);
        BitConverter.TryWriteBytes(record.AsSpan(12 + payload.Length, 4), Crc32C.Mask(Crc32C.Compute(payload)));
        File.WriteAllBytes(file, record);

        var ex = Assert.Throws<TfEventFormatException>(() => TfEventReader.ReadFile(file));
        Assert.Contains("bad protobuf", ex.Message);
        Assert.Equal(0L, ex.Offset);
    }

    private static string WriteSmallFile(string directory)
    {
        var writer = torch.utils.tensorboard.SummaryWriter(directory);
        writer.add_scalar("a", 1.5f, 1);
        writer.add_scalar("b", 2.5f, 2);
        return Assert.Single(Directory.GetFiles(directory));
    }
}
