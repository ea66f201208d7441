using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Trainer.Core.Checkpoints;
using Trainer.Core.IO;
using TorchSharp;

namespace Trainer.Core.Pruning;

/// <summary>What <see cref="SparseWeightsFile.Save"/> wrote.</summary>
/// <param name="FileBytes">Size of the file.</param>
/// <param name="DenseBytes">Bytes of the state dictionary's tensors stored densely (what a dense weights file holds, headers aside).</param>
/// <param name="SparseTensors">Float32 tensors stored as bitmap + values.</param>
/// <param name="SparseEntries">Entries of those tensors.</param>
/// <param name="ZeroEntries">Entries of those tensors left out (+0.0).</param>
public sealed record SparseWeightsSummary(long FileBytes, long DenseBytes, int SparseTensors, long SparseEntries, long ZeroEntries)
{
    /// <summary>Fraction of the sparse-stored entries that are zero.</summary>
    public double Sparsity => SparseEntries == 0 ? 0 : (double)ZeroEntries / SparseEntries;
}

/// <summary>
/// A model's weights with unstructured sparsity stored compressed: a JSON header (the tensor table), then every tensor of
/// the state dictionary, float32 tensors whose bitmap encoding (<see cref="SparseTensorCodec"/>) is smaller than their dense
/// bytes as bitmap + nonzero values, the rest as raw bytes, guarded by a SHA-256 of header and payload. Written through
/// <see cref="AtomicFile"/>; loading verifies everything against the network before changing it and restores every tensor
/// bit for bit. <see cref="CheckpointFile.LoadWeights"/> reads these files too, so Model:Checkpoint and a manifest's weights
/// may be one.
/// </summary>
/// <remarks>Save a pruned model after <see cref="TorchPrune.Prune.Remove{T}"/> (pruning made permanent): a reparametrised one
/// stores its dense <c>weight_orig</c> and its mask.</remarks>
public static class SparseWeightsFile
{
    private static readonly byte[] Magic = "TRNSPW01"u8.ToArray();
    private const int FormatVersion = 1;
    private const string Bitmap = "bitmap", Dense = "dense";
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>True when <paramref name="path"/> is a file that starts like a sparse weights file (its magic bytes).</summary>
    public static bool IsSparseWeightsFile(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var file = File.OpenRead(path);
            Span<byte> head = stackalloc byte[8];
            return file.Read(head) == Magic.Length && head.SequenceEqual(Magic);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Sets every −0.0 entry of a float tensor to +0.0 in place (they compare equal and compute the same products) and
    /// returns how many there were. Pruning made permanent leaves −0.0 where a negative weight was masked
    /// (<c>orig · mask</c>); the file stores −0.0 as a value to stay bit-exact, so clear them before saving.
    /// </summary>
    public static long ClearNegativeZeros(torch.Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!tensor.is_floating_point()) return 0;
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        var negativeZero = tensor.eq(0).logical_and(tensor.signbit());
        long count = negativeZero.sum().item<long>();
        if (count > 0) tensor.masked_fill_(negativeZero, 0.0);
        return count;
    }

    /// <summary><see cref="ClearNegativeZeros(torch.Tensor)"/> on every floating-point tensor of <paramref name="network"/>'s state dictionary.</summary>
    public static long ClearNegativeZeros(torch.nn.Module network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return network.state_dict().Values.Sum(ClearNegativeZeros);
    }

    /// <summary>Bytes the sparse encoding saves against storing every tensor of <paramref name="network"/> densely, as a
    /// fraction of the dense bytes (0 when nothing is sparse); zeros of either sign count, as after
    /// <see cref="ClearNegativeZeros(torch.nn.Module)"/>.</summary>
    public static double Saving(torch.nn.Module network)
    {
        ArgumentNullException.ThrowIfNull(network);
        long dense = 0, encoded = 0;
        foreach (var (_, tensor) in network.state_dict())
        {
            using var scope = torch.NewDisposeScope();
            var bytes = tensor.numel() * tensor.ElementSize;
            dense += bytes;
            encoded += tensor.dtype == torch.ScalarType.Float32
                ? Math.Min(bytes, SparseTensorCodec.EncodedBytes(tensor.numel(), tensor.count_nonzero().item<long>()))
                : bytes;
        }
        return dense == 0 ? 0 : 1 - (double)encoded / dense;
    }

    /// <summary>Writes <paramref name="network"/>'s state dictionary to <paramref name="path"/>; <paramref name="metrics"/> go into the header.</summary>
    public static SparseWeightsSummary Save(string path, torch.nn.Module network, IReadOnlyDictionary<string, double>? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        var payload = new MemoryStream();
        var entries = new List<Entry>();
        long denseBytes = 0, sparseEntries = 0, zeros = 0;
        int sparseTensors = 0;
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var (name, tensor) in network.state_dict())
            {
                using var scope = torch.NewDisposeScope();
                var c = tensor.detach().cpu().contiguous();
                var raw = c.bytes;
                denseBytes += raw.Length;
                var start = payload.Position;
                var encoding = Dense;
                long stored = c.numel();
                if (c.dtype == torch.ScalarType.Float32)
                {
                    var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(raw);
                    var nonzero = SparseTensorCodec.CountStored(values);
                    if (SparseTensorCodec.EncodedBytes(values.Length, nonzero) < raw.Length)
                    {
                        stored = SparseTensorCodec.Encode(values, writer);
                        encoding = Bitmap;
                        sparseTensors++;
                        sparseEntries += values.Length;
                        zeros += values.Length - stored;
                    }
                }
                if (encoding == Dense) writer.Write(raw);
                writer.Flush();
                entries.Add(new Entry(name, c.dtype.ToString(), c.shape, encoding, stored, payload.Position - start));
            }
        }
        var header = JsonSerializer.SerializeToUtf8Bytes(new Header(FormatVersion, entries, metrics?.ToDictionary() ?? []), Json);
        SealedFile.Write(path, Magic, header, payload);
        return new SparseWeightsSummary(new FileInfo(path).Length, denseBytes, sparseTensors, sparseEntries, zeros);
    }

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="network"/>, every tensor bit for bit, and returns the header's metrics.
    /// Nothing changes unless the whole file is intact and fits: the same tensor names, dtypes and shapes.
    /// </summary>
    /// <exception cref="CheckpointException">The file is missing, damaged or not a sparse weights file; or it was made for another
    /// network (<see cref="CheckpointException.DoesNotFit"/>).</exception>
    public static IReadOnlyDictionary<string, double> Load(string path, torch.nn.Module network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var (header, payload) = ReadVerified(path);
        var state = network.state_dict();
        var expected = state.Keys.ToHashSet(StringComparer.Ordinal);
        long offset = 0;
        foreach (var e in header.Tensors)
        {
            if (!expected.Remove(e.Name) || !state.TryGetValue(e.Name, out var target) || !target.shape.SequenceEqual(e.Shape) || target.dtype.ToString() != e.DType)
                throw new CheckpointException($"Sparse weights '{path}' do not fit the network: it holds '{e.Name}' {e.DType}[{string.Join(",", e.Shape)}], " +
                                              "which the network has not with that type and shape. Build the network the file was made from.", doesNotFit: true);
            long entries = e.Shape.Aggregate(1L, (a, b) => a * b);
            long expectedBytes = e.Encoding == Bitmap ? SparseTensorCodec.EncodedBytes(entries, e.Stored) : entries * target.ElementSize;
            if ((e.Encoding != Bitmap && e.Encoding != Dense) || (e.Encoding == Bitmap && e.DType != nameof(torch.ScalarType.Float32))
                || e.Bytes != expectedBytes || offset + e.Bytes > payload.Length)
                throw Corrupt(path, $"tensor '{e.Name}' declares encoding '{e.Encoding}', {e.Stored} stored entries and {e.Bytes} bytes");
            offset += e.Bytes;
        }
        if (expected.Count > 0)
            throw new CheckpointException($"Sparse weights '{path}' do not fit the network: they lack {string.Join(", ", expected.Take(3))}. " +
                                          "Build the network the file was made from.", doesNotFit: true);
        if (offset != payload.Length) throw Corrupt(path, $"its tensor table accounts for {offset} bytes, {payload.Length} are there");

        // Decoded in full before the first tensor is written, so a bad bitmap leaves the network as it was.
        var decoded = new List<(torch.Tensor Target, byte[] Bytes)>();
        offset = 0;
        foreach (var e in header.Tensors)
        {
            var slice = payload.AsSpan((int)offset, (int)e.Bytes);
            offset += e.Bytes;
            try
            {
                decoded.Add((state[e.Name], e.Encoding == Bitmap ? SparseTensorCodec.Decode(slice, e.Shape.Aggregate(1L, (a, b) => a * b)) : slice.ToArray()));
            }
            catch (InvalidDataException x)
            {
                throw Corrupt(path, $"tensor '{e.Name}': {x.Message}");
            }
        }
        using (torch.no_grad())
            foreach (var (target, bytes) in decoded)
            {
                if (target.is_contiguous()) target.bytes = bytes;
                else
                {
                    using var dense = torch.empty(target.shape, target.dtype);
                    dense.bytes = bytes;
                    target.copy_(dense);
                }
            }
        return header.Metrics;
    }

    private static (Header, byte[]) ReadVerified(string path)
    {
        var bytes = FileBytes.Read(path, "Sparse weights file", message => new CheckpointException(message));
        if (!bytes.AsSpan().StartsWith(Magic)) throw new CheckpointException($"'{path}' is not a sparse weights file (bad magic bytes).");
        var (headerBytes, payload) = SealedFile.Read(bytes, Magic.Length, hashesHeader: true, what => Corrupt(path, what), what => Corrupt(path, what));
        Header? header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(headerBytes, Json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw Corrupt(path, $"its header cannot be read ({e.Message})");
        }
        if (header?.Tensors is null || header.Metrics is null || header.Tensors.Any(t => t?.Name is null || t.DType is null || t.Shape is null || t.Encoding is null))
            throw Corrupt(path, "its header lacks the tensor table or has empty entries");
        if (header.Format != FormatVersion) throw Corrupt(path, $"it has format {header.Format} behind the magic of format {FormatVersion}");
        if (header.Tensors.Any(t => t.Bytes < 0 || t.Stored < 0 || t.Shape.Any(d => d < 0)))
            throw Corrupt(path, "its tensor table has negative sizes");
        return (header, payload);
    }

    private static CheckpointException Corrupt(string path, string problem) => new($"Sparse weights '{path}' are corrupt: {problem}; the network was left as it is.");

    private sealed record Header(int Format, IReadOnlyList<Entry> Tensors, Dictionary<string, double> Metrics);

    private sealed record Entry(string Name, string DType, long[] Shape, string Encoding, long Stored, long Bytes);
}
