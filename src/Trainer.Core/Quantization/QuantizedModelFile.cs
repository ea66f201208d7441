using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Trainer.Abstractions.Quantization;
using Trainer.Core.IO;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>What <see cref="QuantizedModelFile.Load"/> rebuilt.</summary>
/// <param name="Applied">The plan, the wrappers in the loaded model and the BatchNorms folded.</param>
/// <param name="ManifestJson">The opaque manifest the exporter stored (e.g. the host's record of structural edits), or null.</param>
public sealed record LoadedQuantizedModel(AppliedQuantization Applied, string? ManifestJson);

/// <summary>
/// A quantized model on disk: a JSON header (plan, folded BatchNorms, manifest, tensor table), then each quantized weight
/// as packed k-bit codes with per-channel scales and zeros (<see cref="EncodedWeight"/>), then every other tensor of the
/// state dictionary in float32 (biases, BatchNorm, activation scales, LSQ steps), guarded by a SHA-256 of the payload.
/// Written through <see cref="AtomicFile"/>. Loading rebuilds the wrappers on a fresh model of the same architecture.
/// </summary>
public static class QuantizedModelFile
{
    // Format 1 ("TRNQUANT") hashed the payload only; format 2 ("TRNQNT02") hashes the header too, so no byte goes unchecked.
    private static readonly byte[] MagicV1 = "TRNQUANT"u8.ToArray();
    private static readonly byte[] Magic = "TRNQNT02"u8.ToArray();
    private const int FormatVersion = 2;
    private static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    /// <summary>Writes the quantized model of <paramref name="applied"/> (whose wrappers live in <paramref name="model"/>) to <paramref name="path"/>.</summary>
    /// <returns>The file's size in bytes.</returns>
    /// <exception cref="ArgumentException">A quantized weight is wider than 8 bits.</exception>
    public static long Save(string path, nn.Module<Tensor, Tensor> model, AppliedQuantization applied, string? manifestJson = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(applied);
        var encoded = applied.Layers.Where(l => l.WeightQuantizer is not null).Select(EncodedWeight.Encode).ToList();
        var skipped = encoded.Select(e => e.Layer + ".layer.weight").ToHashSet(StringComparer.Ordinal);
        var payload = new MemoryStream();
        var weights = new List<WeightEntry>();
        var tensors = new List<TensorEntry>();
        using (var writer = new BinaryWriter(payload, Encoding.UTF8, leaveOpen: true))
        {
            foreach (var e in encoded)
            {
                foreach (var s in e.Scales) writer.Write(s);
                foreach (var z in e.Zeros) writer.Write(z);
                var packed = e.Pack();
                writer.Write(packed);
                weights.Add(new WeightEntry(e.Layer, e.Shape, e.Bits, e.Scales.Length, packed.Length, e.DoReFaLevels));
            }
            foreach (var (name, t) in model.state_dict())
            {
                if (skipped.Contains(name)) continue;
                using var c = t.detach().cpu().contiguous();
                writer.Write(c.bytes);
                tensors.Add(new TensorEntry(name, c.dtype.ToString(), c.shape, c.bytes.Length));
            }
        }
        var header = new Header(FormatVersion, applied.Plan, applied.Folded, manifestJson, weights, tensors);
        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header, Json);
        SealedFile.Write(path, Magic, headerBytes, payload);
        return new FileInfo(path).Length;
    }

    /// <summary>
    /// Rebuilds the quantized model of <paramref name="path"/> on <paramref name="freshModel"/> (a new instance of the
    /// architecture that was quantized): folds the same BatchNorms, wraps the same layers, loads every tensor, and puts
    /// the model in eval mode. Weights hold the decoded quantized values, so outputs match the simulated model.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a quantized model, is damaged, or was made for another architecture
    /// (layers or shapes differ); everything the header says is checked against the model and the payload before the model
    /// changes, and the tensor table once more against the wrapped model before any value is loaded.</exception>
    public static LoadedQuantizedModel Load(string path, nn.Module<Tensor, Tensor> freshModel, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(freshModel);
        var (header, payload) = ReadVerified(path);
        CheckAgainst(path, header, payload.Length, freshModel);

        foreach (var pair in header.Folded) BatchNormFolder.Fold(freshModel, pair);
        var layers = QuantizationApplier.Wrap(freshModel, header.Plan);
        var state = freshModel.state_dict();
        CheckTensors(path, header, state);
        using var reader = new BinaryReader(new MemoryStream(payload));
        var byLayer = layers.ToDictionary(l => l.Path);
        using (no_grad())
        {
            foreach (var w in header.Weights)
            {
                var scales = Floats(reader, w.Channels);
                var zeros = Floats(reader, w.Channels);
                var count = w.Shape.Aggregate(1L, (a, b) => a * b);
                var codes = PackedCodes.Unpack(reader.ReadBytes(w.PackedBytes), w.Bits, count);
                var encoded = new EncodedWeight(w.Layer, w.Shape, w.Bits, codes, scales, zeros, w.DoReFaLevels);
                using var value = encoded.Decode();
                var layer = byLayer[w.Layer];
                layer.Weight.copy_(value);
                layer.WeightIsQuantized = true;
                layer.StoredWeight = encoded;
            }
            foreach (var t in header.Tensors) state[t.Name].bytes = reader.ReadBytes(t.Bytes);
        }
        freshModel.eval();
        (logger ?? NullLogger.Instance).LogInformation("Loaded quantized model {Path}: {Count} layer(s) by {Quantizer}", path, layers.Count, header.Plan.Quantizer);
        return new LoadedQuantizedModel(new AppliedQuantization(header.Plan, layers, header.Folded), header.Manifest);
    }

    /// <summary>
    /// Checks the header against <paramref name="model"/> (plan, folds, quantized weight shapes, bit widths, channel and byte
    /// counts) and the byte counts against the payload, so nothing the file says reaches TorchSharp unchecked.
    /// </summary>
    private static void CheckAgainst(string path, Header header, long payloadLength, nn.Module<Tensor, Tensor> model)
    {
        if (header.Plan?.Layers is null || header.Plan.Layers.Any(l => l?.Layer is null) || header.Folded is null || header.Weights is null || header.Tensors is null
            || header.Folded.Any(f => f is null) || header.Weights.Any(w => w?.Layer is null || w.Shape is null)
            || header.Tensors.Any(t => t?.Name is null || t.DType is null || t.Shape is null))
            throw new InvalidDataException($"'{path}' is damaged: its header lacks the plan or has empty table entries");
        try
        {
            QuantizationApplier.Validate(model, header.Plan);
        }
        catch (ArgumentException e)
        {
            throw Foreign(path, e.Message);
        }
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var f in header.Folded)
            if (!modules.TryGetValue(f.Conv ?? "", out var conv) || conv is not TorchSharp.Modules.Conv2d c
                || !modules.TryGetValue(f.BatchNorm ?? "", out var bn) || bn is not TorchSharp.Modules.BatchNorm2d b || b.num_features != c.out_channels)
                throw Foreign(path, $"it folds '{f.BatchNorm}' into '{f.Conv}', which the model has not as a Conv2d and its BatchNorm2d");
        var weighted = header.Plan.Layers.Where(l => l.Weight is not null).Select(l => l.Layer).ToHashSet(StringComparer.Ordinal);
        long expected = 0;
        foreach (var w in header.Weights)
        {
            if (!weighted.Remove(w.Layer)) throw Foreign(path, $"it holds a quantized weight for '{w.Layer}', which its plan does not quantize (or twice)");
            var current = ((nn.Module)modules[w.Layer]).named_parameters().First(p => p.name == "weight").parameter.shape;
            if (!current.SequenceEqual(w.Shape))
                throw Foreign(path, $"it holds layer '{w.Layer}' with weight shape [{string.Join(", ", w.Shape)}], but the model's is [{string.Join(", ", current)}]");
            long count = w.Shape.Aggregate(1L, (a, b) => a * b);
            if (w.Bits is < 1 or > 8 || (w.Channels != 1 && w.Channels != w.Shape[0]) || w.PackedBytes != PackedCodes.ByteCount(count, w.Bits))
                throw new InvalidDataException($"'{path}' is damaged: the weight of '{w.Layer}' declares {w.Bits} bits, {w.Channels} scales and " +
                                               $"{w.PackedBytes} bytes for shape [{string.Join(", ", w.Shape)}]");
            expected += 8L * w.Channels + w.PackedBytes;
        }
        if (weighted.Count > 0) throw new InvalidDataException($"'{path}' is damaged: it lacks the quantized weight of {string.Join(", ", weighted)}");
        foreach (var t in header.Tensors)
        {
            if (t.Bytes < 0) throw new InvalidDataException($"'{path}' is damaged: tensor '{t.Name}' declares {t.Bytes} bytes");
            expected += t.Bytes;
        }
        if (expected != payloadLength)
            throw new InvalidDataException($"'{path}' is damaged: its tables account for {expected} bytes of data, the file holds {payloadLength}");
    }

    /// <summary>The tensor table against the wrapped model's state: every float tensor present once, with its dtype, shape and byte count.</summary>
    private static void CheckTensors(string path, Header header, Dictionary<string, Tensor> state)
    {
        var expected = state.Keys.Except(header.Weights.Select(w => w.Layer + ".layer.weight"), StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
        foreach (var t in header.Tensors)
        {
            if (!expected.Remove(t.Name) || !state.TryGetValue(t.Name, out var target) || !target.shape.SequenceEqual(t.Shape)
                || target.dtype.ToString() != t.DType || target.numel() * target.ElementSize != t.Bytes)
                throw Foreign(path, $"it holds tensor '{t.Name}' {t.DType}[{string.Join(", ", t.Shape)}] ({t.Bytes} bytes) that the rebuilt model " +
                                    "does not have with that type and shape");
        }
        if (expected.Count > 0) throw Foreign(path, $"it lacks the model's tensor(s) {string.Join(", ", expected.Take(3))}");
    }

    private static InvalidDataException Foreign(string path, string problem) =>
        new($"'{path}' does not fit the model: {problem}; load it into the architecture it was exported from");

    /// <summary>The manifest JSON stored with the model (e.g. a compression manifest, whose edits rebuild the architecture
    /// the file must be loaded into), or null; the file is verified first.</summary>
    /// <exception cref="InvalidDataException">The file is not a quantized model or is damaged.</exception>
    public static string? ReadManifest(string path) => ReadVerified(path).Item1.Manifest;

    /// <summary>Size in bytes of <paramref name="model"/>'s float state dictionary as TorchSharp saves it (the baseline of the size ratio).</summary>
    public static long Float32Size(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true)) model.save(writer);
        return stream.Length;
    }

    private static float[] Floats(BinaryReader reader, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = reader.ReadSingle();
        return values;
    }

    private static (Header, byte[]) ReadVerified(string path)
    {
        var bytes = FileBytes.Read(path, "Quantized model file", message => new InvalidDataException(message));
        var span = bytes.AsSpan();
        int version = span.StartsWith(Magic) ? FormatVersion : span.StartsWith(MagicV1) ? 1 : 0;
        if (version == 0) throw new InvalidDataException($"'{path}' is not a quantized model file (written by QuantizedModelFile.Save)");
        var (headerBytes, payload) = SealedFile.Read(bytes, Magic.Length, hashesHeader: version >= 2,
            what => new InvalidDataException($"'{path}' is truncated or damaged: {what}"),
            what => new InvalidDataException($"'{path}' is damaged: {what}"));
        Header? header;
        try
        {
            header = JsonSerializer.Deserialize<Header>(headerBytes, Json);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            throw new InvalidDataException($"'{path}' is damaged: its header cannot be read ({e.Message})", e);
        }
        if (header is null) throw new InvalidDataException($"'{path}' has an empty header");
        if (header.Format != version)
            throw new InvalidDataException($"'{path}' is quantized model format {header.Format} behind the magic of format {version}; it is damaged");
        return (header, payload);
    }

    private sealed record Header(int Format, QuantizationPlan Plan, IReadOnlyList<FoldedBatchNorm> Folded, string? Manifest,
        IReadOnlyList<WeightEntry> Weights, IReadOnlyList<TensorEntry> Tensors);

    private sealed record WeightEntry(string Layer, long[] Shape, int Bits, int Channels, int PackedBytes, bool DoReFaLevels);

    private sealed record TensorEntry(string Name, string DType, long[] Shape, int Bytes);
}
