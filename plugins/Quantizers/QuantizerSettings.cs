using Trainer.Abstractions.Compression;
using Trainer.Abstractions.Quantization;
using TorchSharp.Modules;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// The settings every quantizer reads, checked against the model before anything is planned:
/// <list type="bullet">
/// <item>bits (default per method), bits_by_type ("Conv2d=4,Linear=8"), bits_by_name ("fc2=8"): bit width, the most specific wins;</item>
/// <item>layers, types, exclude: which Conv2d/Linear layers (<see cref="LayerSelector"/>);</item>
/// <item>tensors: weight, input, output (default per method); scheme: symmetric/affine; granularity: per-tensor/per-channel;</item>
/// <item>calibration_batches: batches of data to calibrate activation ranges on (0: none).</item>
/// </list>
/// </summary>
public sealed class QuantizerSettings
{
    /// <summary>The section errors name.</summary>
    public const string Prefix = "Quantization:Settings";

    private static readonly string[] LayerTypes = ["Conv2d", "Linear"];

    private readonly int defaultBits;
    private readonly IReadOnlyDictionary<string, double> bitsByType, bitsByName;

    /// <summary>Reads and checks the common settings of <paramref name="request"/>.</summary>
    /// <exception cref="ArgumentException">A value is out of range, or a name is not a Conv2d/Linear of the model (message names the key).</exception>
    public QuantizerSettings(QuantizationRequest request, MethodDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(request);
        Reader = new SettingsReader(request.Settings, Prefix);
        defaultBits = Reader.Int("bits", defaults.Bits, 1, 16);
        bitsByType = Reader.DoubleMap("bits_by_type", 1, 16);
        bitsByName = Reader.DoubleMap("bits_by_name", 1, 16);
        foreach (var (key, map) in new[] { ("bits_by_type", bitsByType), ("bits_by_name", bitsByName) })
            foreach (var (name, value) in map)
                if (value != Math.Floor(value)) throw new ArgumentException($"{Prefix}:{key} gives {name}={value}; bits must be whole numbers in [1, 16]");
        foreach (var type in bitsByType.Keys.Where(t => !LayerTypes.Contains(t, StringComparer.OrdinalIgnoreCase)))
            throw new ArgumentException($"{Prefix}:bits_by_type names type '{type}'; only Conv2d and Linear layers can be quantized");

        var tensors = Reader.List("tensors");
        foreach (var t in tensors.Where(t => t is not ("weight" or "input" or "output")))
            throw new ArgumentException($"{Prefix}:tensors lists '{t}'; it accepts weight, input and output");
        Tensors = tensors.Count == 0 ? defaults.Tensors : [.. tensors];
        Scheme = Reader.Choice("scheme", defaults.Scheme, "symmetric", "affine") == "affine" ? QuantizationScheme.Affine : QuantizationScheme.Symmetric;
        Granularity = Reader.Choice("granularity", defaults.Granularity, "per-tensor", "per-channel") == "per-channel"
            ? QuantizationGranularity.PerChannel : QuantizationGranularity.PerTensor;
        CalibrationBatches = Reader.Int("calibration_batches", defaults.CalibrationBatches, 0, 100_000);
        if (CalibrationBatches > 0 && request.CalibrationData is null)
            throw new ArgumentException($"{Prefix}:calibration_batches is {CalibrationBatches}, but the request carries no calibration data; " +
                "give the host training data, or set calibration_batches=0 where the method allows it");

        var selector = new LayerSelector(Reader.List("layers"), Reader.List("types"), Reader.List("exclude"));
        var modules = request.Model.named_modules().Where(m => m.name.Length > 0).ToList();
        var allPaths = modules.Select(m => m.name).ToList();
        selector.ThrowOnUnmatched(allPaths, $"{Prefix}:layers/exclude");
        foreach (var (key, names) in new[] { ("layers", selector.Names), ("bits_by_name", (IReadOnlyList<string>)[.. bitsByName.Keys]) })
            foreach (var name in names)
            {
                var hit = modules.FirstOrDefault(m => m.name == name);
                // A container ("layer1") selects the Conv2d/Linear layers under it; a leaf of another type cannot be quantized.
                if (hit.module is not null && hit.module is not (Conv2d or Linear)
                    && (key == "bits_by_name" || !hit.module.modules().Any(m => m is Conv2d or Linear)))
                    throw new ArgumentException($"{Prefix}:{key} names layer '{name}', a {hit.module.GetType().Name}; only Conv2d and Linear layers can be quantized");
                if (hit.module is null && key == "bits_by_name")
                    throw new ArgumentException($"{Prefix}:bits_by_name names '{name}', which is not a layer of the model");
            }
        foreach (var type in selector.Types.Where(t => !LayerTypes.Contains(t, StringComparer.OrdinalIgnoreCase)))
            throw new ArgumentException($"{Prefix}:types names '{type}'; only Conv2d and Linear layers can be quantized");

        WeightLayers = modules.Where(m => m.module is Conv2d or Linear).Select(m => (m.name, m.module.GetType().Name)).ToList();
        Selected = WeightLayers.Where(l => selector.Selects(l.Path, l.Type)).ToList();
        if (Selected.Count == 0)
            throw new ArgumentException($"{Prefix}:layers/types/exclude select no Conv2d or Linear layer; the model's are " +
                string.Join(", ", WeightLayers.Select(l => l.Path).Take(12)));
    }

    /// <summary>The reader, for method-specific keys; call <see cref="SettingsReader.ThrowOnUnknown"/> after them.</summary>
    public SettingsReader Reader { get; }

    /// <summary>Every Conv2d/Linear of the model in registration order (path, type name).</summary>
    public IReadOnlyList<(string Path, string Type)> WeightLayers { get; }

    /// <summary>The selected Conv2d/Linear layers, in registration order.</summary>
    public IReadOnlyList<(string Path, string Type)> Selected { get; }

    /// <summary>Tensors to quantize: "weight", "input", "output".</summary>
    public IReadOnlyList<string> Tensors { get; }

    /// <summary>Requested scheme.</summary>
    public QuantizationScheme Scheme { get; }

    /// <summary>Requested weight granularity.</summary>
    public QuantizationGranularity Granularity { get; }

    /// <summary>Calibration batches (0: none).</summary>
    public int CalibrationBatches { get; }

    /// <summary>True when <paramref name="tensor"/> is to be quantized.</summary>
    public bool Quantizes(string tensor) => Tensors.Contains(tensor);

    /// <summary>Bits of layer <paramref name="path"/>: bits_by_name, then bits_by_type, then bits.</summary>
    public int BitsOf(string path, string type) =>
        bitsByName.TryGetValue(path, out var byName) ? (int)byName
        : bitsByType.FirstOrDefault(kv => string.Equals(kv.Key, type, StringComparison.OrdinalIgnoreCase)) is { Key: not null } byType ? (int)byType.Value
        : defaultBits;
}

/// <summary>A method's defaults for the common settings.</summary>
/// <param name="Bits">Default bit width.</param>
/// <param name="Tensors">Default tensors.</param>
/// <param name="Scheme">"symmetric" or "affine".</param>
/// <param name="Granularity">"per-tensor" or "per-channel".</param>
/// <param name="CalibrationBatches">Default calibration batches.</param>
public sealed record MethodDefaults(int Bits, IReadOnlyList<string> Tensors, string Scheme = "symmetric", string Granularity = "per-channel",
    int CalibrationBatches = 0);
