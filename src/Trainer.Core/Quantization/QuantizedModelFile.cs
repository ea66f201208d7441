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
    private static readonly byte[] Magic = "TRNQUANT"u8.ToArray();
    private const int FormatVersion = 1;
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
        AtomicFile.Write(path, temp =>
        {
            using var file = new FileStream(temp, FileMode.Create, FileAccess.Write);
            using var writer = new BinaryWriter(file);
            writer.Write(Magic);
            writer.Write(headerBytes.Length);
            writer.Write(headerBytes);
            writer.Write(payload.Length);
            writer.Write(SHA256.HashData(payload.GetBuffer().AsSpan(0, (int)payload.Length)));
            writer.Write(payload.GetBuffer(), 0, (int)payload.Length);
        });
        return new FileInfo(path).Length;
    }

    /// <summary>
    /// Rebuilds the quantized model of <paramref name="path"/> on <paramref name="freshModel"/> (a new instance of the
    /// architecture that was quantized): folds the same BatchNorms, wraps the same layers, loads every tensor, and puts
    /// the model in eval mode. Weights hold the decoded quantized values, so outputs match the simulated model.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a quantized model or is damaged (checked before the model changes).</exception>
    /// <exception cref="ArgumentException">The file was made for another architecture (layers or shapes differ).</exception>
    public static LoadedQuantizedModel Load(string path, nn.Module<Tensor, Tensor> freshModel, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(freshModel);
        var (header, payload) = ReadVerified(path);
        QuantizationApplier.Validate(freshModel, header.Plan);
        var modules = freshModel.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var w in header.Weights)
        {
            var current = ((nn.Module)modules[w.Layer]).named_parameters().First(p => p.name == "weight").parameter.shape;
            if (!current.SequenceEqual(w.Shape))
                throw new ArgumentException($"'{path}' holds layer '{w.Layer}' with weight shape [{string.Join(", ", w.Shape)}], " +
                    $"but the model's is [{string.Join(", ", current)}]; load it into the architecture it was exported from");
        }

        foreach (var pair in header.Folded) BatchNormFolder.Fold(freshModel, pair);
        var layers = QuantizationApplier.Wrap(freshModel, header.Plan);
        using var reader = new BinaryReader(new MemoryStream(payload));
        var byLayer = layers.ToDictionary(l => l.Path);
        var state = freshModel.state_dict();
        using (no_grad())
        {
            foreach (var w in header.Weights)
            {
                var scales = Floats(reader, w.Channels);
                var zeros = Floats(reader, w.Channels);
                var count = w.Shape.Aggregate(1L, (a, b) => a * b);
                var codes = PackedCodes.Unpack(reader.ReadBytes(w.PackedBytes), w.Bits, count);
                using var value = new EncodedWeight(w.Layer, w.Shape, w.Bits, codes, scales, zeros, w.DoReFaLevels).Decode();
                var layer = byLayer[w.Layer];
                layer.Weight.copy_(value);
                layer.WeightIsQuantized = true;
            }
            foreach (var t in header.Tensors)
            {
                if (!state.TryGetValue(t.Name, out var target) || !target.shape.SequenceEqual(t.Shape) || target.dtype.ToString() != t.DType)
                    throw new ArgumentException($"'{path}' holds tensor '{t.Name}' {t.DType}[{string.Join(", ", t.Shape)}] that the rebuilt model " +
                        "does not have with that type and shape; load it into the architecture it was exported from");
                target.bytes = reader.ReadBytes(t.Bytes);
            }
        }
        freshModel.eval();
        (logger ?? NullLogger.Instance).LogInformation("Loaded quantized model {Path}: {Count} layer(s) by {Quantizer}", path, layers.Count, header.Plan.Quantizer);
        return new LoadedQuantizedModel(new AppliedQuantization(header.Plan, layers, header.Folded), header.Manifest);
    }

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
        if (!File.Exists(path)) throw new FileNotFoundException($"quantized model file '{path}' does not exist", path);
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            if (!reader.ReadBytes(Magic.Length).SequenceEqual(Magic))
                throw new InvalidDataException($"'{path}' is not a quantized model file (written by QuantizedModelFile.Save)");
            var header = JsonSerializer.Deserialize<Header>(reader.ReadBytes(reader.ReadInt32()), Json)
                ?? throw new InvalidDataException($"'{path}' has an empty header");
            if (header.Format != FormatVersion)
                throw new InvalidDataException($"'{path}' is quantized model format {header.Format}; this build reads format {FormatVersion}");
            var length = reader.ReadInt64();
            var hash = reader.ReadBytes(32);
            var payload = reader.ReadBytes(checked((int)length));
            if (payload.Length != length || !SHA256.HashData(payload).SequenceEqual(hash))
                throw new InvalidDataException($"'{path}' is damaged: its tensor data does not match its checksum");
            return (header, payload);
        }
        catch (Exception e) when (e is EndOfStreamException or JsonException)
        {
            throw new InvalidDataException($"'{path}' is truncated or damaged: {e.Message}", e);
        }
    }

    private sealed record Header(int Format, QuantizationPlan Plan, IReadOnlyList<FoldedBatchNorm> Folded, string? Manifest,
        IReadOnlyList<WeightEntry> Weights, IReadOnlyList<TensorEntry> Tensors);

    private sealed record WeightEntry(string Layer, long[] Shape, int Bits, int Channels, int PackedBytes, bool DoReFaLevels);

    private sealed record TensorEntry(string Name, string DType, long[] Shape, int Bytes);
}
