using System.Text;
using TorchSharp;

namespace Trainer.Core.Checkpoints;

/// <summary>
/// Reads the layout of a TorchSharp <c>Module.save</c> stream (an LEB128 entry count, then per entry the name, the dtype, the
/// rank, the sizes and the raw bytes) without TorchSharp, so that a stream can be compared with a network before
/// <c>Module.load</c> sees it: TorchSharp trusts the counts it reads and a damaged or foreign stream must never reach it.
/// </summary>
public static class StateStream
{
    /// <summary>Largest rank accepted; real tensors have at most 5 dimensions.</summary>
    private const int MaxRank = 16;

    /// <summary>One tensor of a stream: its name, dtype code, shape, and where its bytes are.</summary>
    public sealed record Entry(string Name, long DType, long[] Shape, long Offset, long Bytes);

    /// <summary>
    /// Null when <paramref name="stream"/> holds exactly the state of <paramref name="network"/> (the same names, dtypes and
    /// shapes, and every byte accounted for); otherwise what differs, in one sentence.
    /// </summary>
    public static string? Mismatch(byte[] stream, torch.nn.Module network)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(network);
        var state = network.state_dict();
        var sizes = state.ToDictionary(kv => kv.Key, kv => (long)kv.Value.ElementSize);
        List<Entry> entries;
        try
        {
            entries = Parse(stream, name => sizes.TryGetValue(name, out var size) ? size : null);
        }
        catch (InvalidDataException e)
        {
            return e.Message;
        }
        foreach (var entry in entries)
        {
            if (!state.TryGetValue(entry.Name, out var tensor))
                return $"it holds tensor '{entry.Name}', which the network does not have";
            if (entry.DType != (long)tensor.dtype)
                return $"tensor '{entry.Name}' is stored as dtype {(torch.ScalarType)entry.DType} but the network's is {tensor.dtype}";
            if (!entry.Shape.SequenceEqual(tensor.shape))
                return $"tensor '{entry.Name}' is [{string.Join(",", entry.Shape)}] in the file but [{string.Join(",", tensor.shape)}] in the network";
        }
        var missing = state.Keys.Except(entries.Select(e => e.Name)).ToList();
        if (missing.Count > 0) return $"it lacks the network's tensor(s) {string.Join(", ", missing.Take(3).Select(m => $"'{m}'"))}";
        return null;
    }

    /// <summary>
    /// The entries of <paramref name="stream"/>; <paramref name="elementSize"/> gives the bytes per element of a named
    /// tensor (null for a name that is not expected, which ends the parse). Throws <see cref="InvalidDataException"/> when
    /// the stream is cut short, has trailing bytes, repeats a name, or declares impossible sizes.
    /// </summary>
    public static List<Entry> Parse(byte[] stream, Func<string, long?> elementSize)
    {
        using var reader = new BinaryReader(new MemoryStream(stream, writable: false), Encoding.UTF8);
        try
        {
            long count = Decode(reader);
            // Each entry takes at least 4 bytes (name length, dtype, rank, nothing else for a 0-d empty name).
            if (count < 0 || count > stream.Length / 4) throw new InvalidDataException($"it declares {count} tensors in {stream.Length} bytes");
            var entries = new List<Entry>((int)count);
            var names = new HashSet<string>(StringComparer.Ordinal);
            for (long i = 0; i < count; i++)
            {
                var name = reader.ReadString();
                if (!names.Add(name)) throw new InvalidDataException($"it holds tensor '{name}' twice");
                long dtype = Decode(reader);
                long rank = Decode(reader);
                if (rank > MaxRank) throw new InvalidDataException($"tensor '{name}' declares {rank} dimensions");
                var shape = new long[rank];
                long elements = 1;
                for (int d = 0; d < rank; d++)
                {
                    shape[d] = Decode(reader);
                    elements = checked(elements * shape[d]);
                }
                var size = elementSize(name) ?? throw new InvalidDataException($"it holds tensor '{name}', which the network does not have");
                long bytes = checked(elements * size);
                long offset = reader.BaseStream.Position;
                if (bytes > stream.Length - offset)
                    throw new InvalidDataException($"tensor '{name}' [{string.Join(",", shape)}] needs {bytes} bytes but only {stream.Length - offset} remain");
                reader.BaseStream.Position = offset + bytes;
                entries.Add(new Entry(name, dtype, shape, offset, bytes));
            }
            if (reader.BaseStream.Position != stream.Length)
                throw new InvalidDataException($"{stream.Length - reader.BaseStream.Position} bytes follow the last tensor");
            return entries;
        }
        catch (Exception e) when (e is EndOfStreamException or FormatException or OverflowException or DecoderFallbackException)
        {
            throw new InvalidDataException($"its tensor data is cut short or malformed ({e.Message})", e);
        }
    }

    /// <summary>TorchSharp's LEB128 reader, bounded: more than 9 bytes cannot be a long.</summary>
    private static long Decode(BinaryReader reader)
    {
        long result = 0;
        for (int i = 0; i < 9; i++)
        {
            long b = reader.ReadByte();
            result |= (b & 0x7f) << (7 * i);
            if ((b & 0x80) == 0) return result;
        }
        throw new InvalidDataException("a size field is longer than 9 bytes");
    }
}
