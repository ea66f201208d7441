using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;

namespace Trainer.Core.Checkpoints;

/// <summary>
/// Reads and writes one checkpoint file: a JSON header (loop state and the network's tensor
/// shapes), then the network and optimizer tensors, guarded by a SHA-256 of the tensor bytes.
/// Writes go to a temporary file renamed into place, so a crash never leaves half a checkpoint.
/// Reading verifies everything before touching the network, so a bad file changes nothing.
/// </summary>
public static class CheckpointFile
{
    private static readonly byte[] Magic = "TRNCKPT\0"u8.ToArray();
    private const int FormatVersion = 1;

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

        IO.AtomicFile.Write(path, temp =>
        {
            using var file = new FileStream(temp, FileMode.Create, FileAccess.Write);
            using var writer = new BinaryWriter(file);
            writer.Write(Magic);
            writer.Write(FormatVersion);
            writer.Write(headerBytes.Length);
            writer.Write(headerBytes);
            writer.Write(payload.Length);
            writer.Write(SHA256.HashData(payload.GetBuffer().AsSpan(0, (int)payload.Length)));
            writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
            writer.Flush();
            file.Flush(flushToDisk: true);
        });
    }

    /// <summary>
    /// Loads <paramref name="path"/> into <paramref name="network"/> and <paramref name="optimizer"/>
    /// and returns the loop state; throws <see cref="CheckpointException"/> before changing anything if
    /// the file is corrupt or was made for a different network.
    /// </summary>
    public static CheckpointState Load(string path, torch.nn.Module network, TorchSharp.Modules.OptimizerHelper optimizer)
    {
        var (header, payload) = ReadVerified(path);
        CheckFingerprint(path, header["tensors"]!.AsObject(), Fingerprint(network));
        var state = header["state"].Deserialize<CheckpointState>()
            ?? throw new CheckpointException($"Checkpoint '{path}' has no loop state.");
        using var reader = new BinaryReader(new MemoryStream(payload));
        ReadSection(reader, r => network.load(r));
        ReadSection(reader, optimizer.load_state_dict);
        return state;
    }

    /// <summary>
    /// Loads only the network weights of checkpoint <paramref name="path"/> into <paramref name="network"/>
    /// (for analysis and export); the same checks as <see cref="Load"/> run first.
    /// </summary>
    public static CheckpointState LoadWeights(string path, torch.nn.Module network)
    {
        var (header, payload) = ReadVerified(path);
        CheckFingerprint(path, header["tensors"]!.AsObject(), Fingerprint(network));
        using var reader = new BinaryReader(new MemoryStream(payload));
        ReadSection(reader, r => network.load(r));
        return header["state"].Deserialize<CheckpointState>()
            ?? throw new CheckpointException($"Checkpoint '{path}' has no loop state.");
    }

    private static (JsonObject Header, byte[] Payload) ReadVerified(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"Checkpoint '{path}' does not exist.");
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            if (!reader.ReadBytes(Magic.Length).AsSpan().SequenceEqual(Magic))
                throw new CheckpointException($"'{path}' is not a Trainer checkpoint (bad magic bytes).");
            var version = reader.ReadInt32();
            if (version != FormatVersion)
                throw new CheckpointException($"Checkpoint '{path}' has format version {version}; this build reads {FormatVersion}.");
            var header = JsonNode.Parse(reader.ReadBytes(reader.ReadInt32()))!.AsObject();
            var length = reader.ReadInt64();
            var hash = reader.ReadBytes(32);
            var payload = reader.ReadBytes(checked((int)length));
            if (payload.Length != length || !SHA256.HashData(payload).AsSpan().SequenceEqual(hash))
                throw new CheckpointException($"Checkpoint '{path}' is corrupt (checksum mismatch or truncated); it was left as it is.");
            return (header, payload);
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException or OverflowException or InvalidOperationException)
        {
            throw new CheckpointException($"Checkpoint '{path}' is corrupt or truncated ({e.Message}); it was left as it is.");
        }
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
        static string Shape(JsonNode? n) => n is null ? "absent" : "[" + string.Join(",", n.AsArray().Select(d => d!.ToString())) + "]";
        var problems = saved.Select(kv => kv.Key).Union(current.Select(kv => kv.Key))
            .Where(name => Shape(saved[name]) != Shape(current[name]))
            .Select(name => $"'{name}' is {Shape(saved[name])} in the checkpoint but {Shape(current[name])} in the network")
            .ToList();
        if (problems.Count > 0)
            throw new CheckpointException(
                $"Checkpoint '{path}' does not fit the network: {string.Join("; ", problems.Take(3))}" +
                (problems.Count > 3 ? $" (and {problems.Count - 3} more)" : "") +
                ". Build the network the checkpoint was made with, or start without --resume.");
    }

    private static void WriteSection(BinaryWriter writer, Action<BinaryWriter> write)
    {
        var buffer = new MemoryStream();
        using (var inner = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true)) write(inner);
        writer.Write(buffer.Length);
        writer.Write(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void ReadSection(BinaryReader reader, Action<BinaryReader> read)
    {
        var bytes = reader.ReadBytes(checked((int)reader.ReadInt64()));
        using var inner = new BinaryReader(new MemoryStream(bytes));
        read(inner);
    }
}
