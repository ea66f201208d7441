using System.Buffers.Binary;
using System.Text;

namespace Trainer.Core.Tests.TensorBoard;

// An independent reader of TensorBoard event files, written from the format description only
// (TFRecord framing + the protobuf wire format of tensorflow/core/util/event.proto and
// tensorflow/core/framework/summary.proto). It deliberately uses neither TorchSharp's generated
// Tensorboard classes nor Google.Protobuf, so it can check what the writer produces.

/// <summary>CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, computed bytewise from a table.</summary>
public static class Crc32C
{
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
                c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
        return table;
    }

    /// <summary>CRC-32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF).</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc ^ 0xFFFFFFFFu;
    }

    /// <summary>The TFRecord masking: rotate right by 15 bits and add 0xa282ead8.</summary>
    public static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

/// <summary>A malformed event file: bad CRC, truncated record or undecodable protobuf.</summary>
public sealed class TfEventFormatException(string file, long offset, string problem)
    : Exception($"{file}: {problem} (record at offset {offset})")
{
    /// <summary>The file being read.</summary>
    public string File { get; } = file;

    /// <summary>Byte offset of the record in which the problem was found.</summary>
    public long Offset { get; } = offset;
}

/// <summary>What a Summary.Value holds.</summary>
public enum TfValueKind { Unknown, Simple, Image, Histogram, Tensor }

/// <summary>The numbers of a HistogramProto.</summary>
public sealed record TfHistogram(double Min, double Max, double Num, double Sum, double SumSquares,
    IReadOnlyList<double> BucketLimits, IReadOnlyList<double> Buckets);

/// <summary>One Summary.Value: its tag, kind, and the scalar or histogram if it holds one.</summary>
public sealed record TfValue(string Tag, TfValueKind Kind, float? SimpleValue, TfHistogram? Histogram = null);

/// <summary>One Event record.</summary>
public sealed record TfEvent(string File, long Offset, double WallTime, long Step, string? FileVersion,
    IReadOnlyList<TfValue> Values);

/// <summary>Reads TensorBoard event files (TFRecord files of serialized Event messages).</summary>
public static class TfEventReader
{
    /// <summary>Every event of every "events.out.tfevents.*" file under <paramref name="directory"/>, recursively,
    /// files in ordinal path order, events in file order.</summary>
    public static IReadOnlyList<TfEvent> ReadDirectory(string directory)
        => Directory.EnumerateFiles(directory, "events.out.tfevents.*", SearchOption.AllDirectories)
            .OrderBy(f => f, StringComparer.Ordinal)
            .SelectMany(ReadFile)
            .ToList();

    /// <summary>Every event of one file. Throws <see cref="TfEventFormatException"/> on any damage.</summary>
    public static IReadOnlyList<TfEvent> ReadFile(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<TfEvent>();
        long pos = 0;
        while (pos < bytes.Length)
        {
            var start = pos;
            if (bytes.Length - pos < 12)
                throw new TfEventFormatException(path, start, $"truncated record header ({bytes.Length - pos} of 12 bytes)");
            var lengthBytes = bytes.AsSpan((int)pos, 8);
            var length = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            var lengthCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)pos + 8, 4));
            if (Crc32C.Mask(Crc32C.Compute(lengthBytes)) != lengthCrc)
                throw new TfEventFormatException(path, start, "length CRC mismatch");
            pos += 12;
            if (length > (ulong)(bytes.Length - pos) || (ulong)(bytes.Length - pos) - length < 4)
                throw new TfEventFormatException(path, start,
                    $"truncated record: needs {length} data bytes + 4 CRC bytes, {bytes.Length - pos} left");
            var data = bytes.AsSpan((int)pos, (int)length);
            var dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)pos + (int)length, 4));
            if (Crc32C.Mask(Crc32C.Compute(data)) != dataCrc)
                throw new TfEventFormatException(path, start, "data CRC mismatch");
            pos += (long)length + 4;
            try
            {
                events.Add(DecodeEvent(data.ToArray(), path, start));
            }
            catch (FormatException e)
            {
                throw new TfEventFormatException(path, start, "bad protobuf: " + e.Message);
            }
        }
        return events;
    }

    private static TfEvent DecodeEvent(byte[] data, string file, long offset)
    {
        double wallTime = 0; long step = 0; string? fileVersion = null;
        var values = new List<TfValue>();
        var r = new WireReader(data);
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            switch (field, wire)
            {
                case (1, 1): wallTime = r.Double(); break;
                case (2, 0): step = (long)r.Varint(); break;
                case (3, 2): fileVersion = Encoding.UTF8.GetString(r.Bytes()); break;
                case (5, 2): values.AddRange(DecodeSummary(r.Bytes())); break;
                default: r.Skip(wire); break;
            }
        }
        return new TfEvent(file, offset, wallTime, step, fileVersion, values);
    }

    private static List<TfValue> DecodeSummary(byte[] data)
    {
        var values = new List<TfValue>();
        var r = new WireReader(data);
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2) values.Add(DecodeValue(r.Bytes()));
            else r.Skip(wire);
        }
        return values;
    }

    private static TfValue DecodeValue(byte[] data)
    {
        string tag = ""; var kind = TfValueKind.Unknown; float? simple = null; TfHistogram? histo = null;
        var r = new WireReader(data);
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            switch (field, wire)
            {
                case (1, 2): tag = Encoding.UTF8.GetString(r.Bytes()); break;
                case (2, 5): simple = r.Float(); kind = TfValueKind.Simple; break;
                case (4, 2): r.Bytes(); kind = TfValueKind.Image; break;
                case (5, 2): histo = DecodeHistogram(r.Bytes()); kind = TfValueKind.Histogram; break;
                case (8, 2): r.Bytes(); kind = TfValueKind.Tensor; break;
                default: r.Skip(wire); break;
            }
        }
        return new TfValue(tag, kind, simple, histo);
    }

    private static TfHistogram DecodeHistogram(byte[] data)
    {
        double min = 0, max = 0, num = 0, sum = 0, sumSq = 0;
        List<double> limits = [], buckets = [];
        var r = new WireReader(data);
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            switch (field, wire)
            {
                case (1, 1): min = r.Double(); break;
                case (2, 1): max = r.Double(); break;
                case (3, 1): num = r.Double(); break;
                case (4, 1): sum = r.Double(); break;
                case (5, 1): sumSq = r.Double(); break;
                case (6, 2): limits.AddRange(PackedDoubles(r.Bytes())); break;
                case (6, 1): limits.Add(r.Double()); break;
                case (7, 2): buckets.AddRange(PackedDoubles(r.Bytes())); break;
                case (7, 1): buckets.Add(r.Double()); break;
                default: r.Skip(wire); break;
            }
        }
        return new TfHistogram(min, max, num, sum, sumSq, limits, buckets);
    }

    private static IEnumerable<double> PackedDoubles(byte[] data)
    {
        if (data.Length % 8 != 0)
            throw new FormatException($"packed doubles of {data.Length} bytes");
        for (var i = 0; i < data.Length; i += 8)
            yield return BinaryPrimitives.ReadDoubleLittleEndian(data.AsSpan(i, 8));
    }

    /// <summary>Minimal protobuf wire-format reader; throws FormatException on malformed input.</summary>
    private sealed class WireReader(byte[] data)
    {
        private int _pos;

        public bool End => _pos >= data.Length;

        public (int Field, int Wire) Tag()
        {
            var key = Varint();
            var field = key >> 3;
            if (field == 0 || field > int.MaxValue)
                throw new FormatException($"invalid field number {field} at byte {_pos}");
            return ((int)field, (int)(key & 7));
        }

        public ulong Varint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_pos >= data.Length)
                    throw new FormatException("truncated varint");
                var b = data[_pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                    return result;
            }
            throw new FormatException("varint longer than 10 bytes");
        }

        public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

        public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

        public byte[] Bytes()
        {
            var length = Varint();
            if (length > (ulong)(data.Length - _pos))
                throw new FormatException($"length {length} runs past the end of the message");
            return Take((int)length).ToArray();
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Take(8); break;
                case 2: Bytes(); break;
                case 5: Take(4); break;
                default: throw new FormatException($"unsupported wire type {wire}");
            }
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (data.Length - _pos < n)
                throw new FormatException($"needs {n} bytes, {data.Length - _pos} left");
            var span = data.AsSpan(_pos, n);
            _pos += n;
            return span;
        }
    }
}
