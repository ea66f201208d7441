using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace Trainer.Core.Checkpoints;

/// <summary>
/// Reads and writes one checkpoint file: a JSON header (loop state and the network's tensor
/// shapes), then the network and optimizer tensors, guarded by a SHA-256 of the header and the tensor bytes
/// (format 2; format 1 files, whose checksum covers the tensor bytes only, are still read).
/// Writes go to a temporary file renamed into place, so a crash never leaves half a checkpoint.
/// Reading verifies everything before touching the network, so a bad file changes nothing.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "TRNCKPT\0"u8.ToArray();
    private const int FormatVersion = 2;

    /// <summary>Writes a checkpoint of <paramref name="network"/> and <paramref name="optimizer"/> to <paramref name="path"/>.</summary>
    public static void Save(string path, CheckpointState state, torch.nn.Module network, TorchSharp.Modules.OptimizerHelper optimizer) =>
        Write(path, state, network, optimizer);

    /// <summary>
    /// Writes a weights-only checkpoint of <paramref name="network"/> (no optimizer state; <paramref name="metrics"/> kept in the
    /// header), for compressed and exported models. <see cref="LoadWeights"/> reads it back with the same checks.
    /// </summary>
    public static void SaveWeights(string path, torch.nn.Module network, IReadOnlyDictionary<string, double>? metrics = null) =>
        Write(path, new CheckpointState
        {
            Epoch = -1, GlobalStep = 0, RngState = [],
            Metrics = metrics is null ? [] : new Dictionary<string, double>(metrics),
        }, network, optimizer: null);

    private static void Write(string path, CheckpointState state, torch.nn.Module network, TorchSharp.Modules.OptimizerHelper? optimizer)
    {
        var payload = new MemoryStream();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            WriteSection(writer, w => network.save(w));
            WriteSection(writer, optimizer is null ? _ => { } : optimizer.save_state_dict);
        }
        var header = new JsonObject
        {
            ["state"] = JsonSerializer.SerializeToNode(state),
            ["tensors"] = Fingerprint(network),
        };
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());

        // The magic and the format version lead the sealed layout; its checksum covers the header and the tensor data
        // (format 2), so a damaged header is found like damaged weights.
        IO.SealedFile.Write(path, [.. Magic, .. BitConverter.GetBytes(FormatVersion)], headerBytes, payload);
    }

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="network"/> and <paramref name="optimizer"/>
    /// and returns the loop state; throws <see cref="CheckpointException"/> before changing anything if
    /// the file is corrupt or was made for a different network.
    /// </summary>
    public static CheckpointState Load(string path, torch.nn.Module network, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        var file = ReadChecked(path, network);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(file.Optimizer));
            optimizer.load_state_dict(reader);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or EndOfStreamException or KeyNotFoundException
                                      or InvalidCastException or System.Runtime.InteropServices.ExternalException)
        {
            // The network is still untouched: its state is loaded last.
            throw new CheckpointException($"Checkpoint '{path}' holds optimizer state that does not fit this optimizer ({e.Message}); " +
                                          "it was made with another optimizer. Start without --resume, or configure the optimizer it was made with.");
        }
        using (var reader = new BinaryReader(new MemoryStream(file.Network))) network.load(reader);
        return file.State;
    }

    /// <summary>
    /// Loads only the network weights of checkpoint <paramref name="path"/> into <paramref name="network"/>
    /// (for analysis and export); the same checks as <see cref="Load"/> run first. A sparse weights file
    /// (<see cref="Pruning.SparseWeightsFile"/>) is read as well, so a sparse export loads wherever weights do.
    /// </summary>
    public static CheckpointState LoadWeights(string path, torch.nn.Module network)
    {
        if (Pruning.SparseWeightsFile.IsSparseWeightsFile(path))
        {
            var metrics = Pruning.SparseWeightsFile.Load(path, network);
            return new CheckpointState { Epoch = -1, GlobalStep = 0, RngState = [], Metrics = new Dictionary<string, double>(metrics) };
        }
        var file = ReadChecked(path, network);
        using (var reader = new BinaryReader(new MemoryStream(file.Network))) network.load(reader);
        return file.State;
    }

    /// <summary>The names of the network tensors checkpoint <paramref name="path"/> holds (its header's table), the file
    /// verified first; a sparse weights file has none to tell and gives an empty list.</summary>
    public static IReadOnlyList<string> TensorNames(string path)
    {
        if (Pruning.SparseWeightsFile.IsSparseWeightsFile(path)) return [];
        var (header, _) = ReadVerified(path);
        return header["tensors"] is JsonObject tensors ? tensors.Select(kv => kv.Key).ToList() : throw Corrupt(path, "its header lacks the tensor table");
    }

    private sealed record CheckedFile(CheckpointState State, byte[] Network, byte[] Optimizer);

    /// <summary>
    /// Reads and verifies all of <paramref name="path"/> against <paramref name="network"/> without touching it: the checksum,
    /// the header, the tensor fingerprint, and the network section entry by entry (names, dtypes, shapes, byte counts), so
    /// TorchSharp never reads a damaged or foreign stream.
    /// </summary>
    private static CheckedFile ReadChecked(string path, torch.nn.Module network)
    {
        var (header, payload) = ReadVerified(path);
        if (header["tensors"] is not JsonObject tensors || header["state"] is not JsonObject)
            throw Corrupt(path, "its header lacks the tensor table or the loop state");
        CheckFingerprint(path, tensors, Fingerprint(network));
        CheckpointState state;
        try
        {
            state = header["state"].Deserialize<CheckpointState>()!;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NotSupportedException)
        {
            throw Corrupt(path, $"its loop state cannot be read ({e.Message})");
        }
        using var reader = new BinaryReader(new MemoryStream(payload));
        var networkSection = ReadSection(reader, path);
        var optimizerSection = ReadSection(reader, path);
        if (reader.BaseStream.Position != payload.Length) throw Corrupt(path, "bytes follow its last section");
        if (StateStream.Mismatch(networkSection, network) is { } mismatch)
            throw new CheckpointException($"Checkpoint '{path}' does not fit the network: {mismatch}. " +
                                          "Build the network the checkpoint was made with, or start without --resume.", doesNotFit: true);
        return new CheckedFile(state, networkSection, optimizerSection);
    }

    private static CheckpointException Corrupt(string path, string problem) =>
        new($"Checkpoint '{path}' is corrupt: {problem}; it was left as it is.");

    /// <summary>
    /// The header and payload of <paramref name="path"/>, checksum verified. Every length field is checked against the bytes
    /// that are left before anything is allocated, so a damaged length is an error, not a huge allocation.
    /// </summary>
    private static (JsonObject Header, byte[] Payload) ReadVerified(string path)
    {
        var bytes = IO.FileBytes.Read(path, "Checkpoint", message => new CheckpointException(message));
        var span = bytes.AsSpan();
        if (span.Length < Magic.Length || !span[..Magic.Length].SequenceEqual(Magic))
            throw new CheckpointException($"'{path}' is not a Trainer checkpoint (bad magic bytes).");
        int at = Magic.Length;
        int version = Int32At(span, ref at, path, "format version");
        if (version is not (1 or FormatVersion))
            throw new CheckpointException($"Checkpoint '{path}' has format version {version}; this build reads 1 and {FormatVersion}.");
        // Version 1 hashed the tensor data only; version 2 hashes the header too, so no byte of the file goes unchecked.
        var (headerBytes, payload) = IO.SealedFile.Read(bytes, at, hashesHeader: version >= 2, problem => Truncated(path, problem),
            _ => new CheckpointException($"Checkpoint '{path}' is corrupt (checksum mismatch); it was left as it is."));
        try
        {
            if (JsonNode.Parse(headerBytes) is JsonObject header) return (header, payload);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw Corrupt(path, $"its header is not valid JSON ({e.Message})");
        }
        throw Corrupt(path, "its header is not a JSON object");
    }

    private static CheckpointException Truncated(string path, string problem) =>
        new($"Checkpoint '{path}' is truncated or corrupt: {problem}; it was left as it is.");

    private static int Int32At(ReadOnlySpan<byte> bytes, ref int at, string path, string field)
    {
        if (at + 4 > bytes.Length) throw Truncated(path, $"it ends before its {field}");
        int value = BitConverter.ToInt32(bytes.Slice(at, 4));
        at += 4;
        return value;
    }

    private static JsonObject Fingerprint(torch.nn.Module network)
    {
        var shapes = new JsonObject();
        foreach (var (name, tensor) in network.state_dict())
            shapes[name] = new JsonArray(tensor.shape.Select(d => (JsonNode)d).ToArray());
        return shapes;
    }

    private static void CheckFingerprint(string path, JsonObject saved, JsonObject current)
    {
        static string Shape(JsonNode? n) => n switch
        {
            null => "absent",
            JsonArray a => "[" + string.Join(",", a.Select(d => d?.ToJsonString() ?? "null")) + "]",
            _ => n.ToJsonString(),
        };
        var problems = saved.Select(kv => kv.Key).Union(current.Select(kv => kv.Key))
            .Where(name => Shape(saved[name]) != Shape(current[name]))
            .Select(name => $"'{name}' is {Shape(saved[name])} in the checkpoint but {Shape(current[name])} in the network")
            .ToList();
        if (problems.Count > 0)
            throw new CheckpointException(
                $"Checkpoint '{path}' does not fit the network: {string.Join("; ", problems.Take(3))}" +
                (problems.Count > 3 ? $" (and {problems.Count - 3} more)" : "") +
                ". Build the network the checkpoint was made with, or start without --resume.", doesNotFit: true);
    }

    private static void WriteSection(BinaryWriter writer, Action<BinaryWriter> write)
    {
        var buffer = new MemoryStream();
        using (var inner = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) write(inner);
        writer.Write(buffer.Length);
        writer.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static byte[] ReadSection(BinaryReader reader, string path)
    {
        var left = reader.BaseStream.Length - reader.BaseStream.Position;
        long length = left >= 8 ? reader.ReadInt64() : -1;
        if (length < 0 || length > left - 8) throw Corrupt(path, "a tensor section's length does not fit the file");
        return reader.ReadBytes((int)length);
    }
}
