using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// Common shape of the built-in quantizers: read the common settings (<see cref="QuantizerSettings"/>), let the method read
/// its own keys and decide each selected layer's tensors, refuse unknown keys, and log the plan. Nothing touches the model.
/// </summary>
public abstract class QuantizerBase : IQuantizer
{
    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <summary>The method's defaults for the common settings.</summary>
    protected abstract MethodDefaults Defaults { get; }

    /// <summary>True when the plan only reaches its accuracy after fine-tuning.</summary>
    protected abstract bool NeedsTraining { get; }

    /// <inheritdoc/>
    public QuantizationPlan Plan(QuantizationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var settings = new QuantizerSettings(request, Defaults);
        var method = ReadMethodSettings(settings);
        settings.Reader.ThrowOnUnknown(Name);
        var layers = new List<LayerQuantization>();
        for (int i = 0; i < settings.Selected.Count; i++)
        {
            var (path, type) = settings.Selected[i];
            var layer = PlanLayer(settings, method, path, type, settings.BitsOf(path, type));
            if (layer is not null) layers.Add(layer);
        }
        if (layers.Count == 0)
            throw new ArgumentException($"{Name}: the settings leave no layer to quantize (selected: {string.Join(", ", settings.Selected.Select(s => s.Path))})");
        var plan = new QuantizationPlan(Name, layers, settings.CalibrationBatches, NeedsTraining, FoldBatchNorm(method),
            $"{Name}: {layers.Count} layer(s), tensors {string.Join("+", settings.Tensors)}, " +
            string.Join(", ", layers.Select(l => $"{l.Layer}={l.Weight?.Bits ?? l.Input?.Bits ?? l.Output?.Bits}b")));
        request.Logger.LogInformation("{Summary}", plan.Summary);
        return plan;
    }

    /// <summary>Reads the method's own keys from <see cref="QuantizerSettings.Reader"/> and checks them against the common ones.</summary>
    protected virtual object? ReadMethodSettings(QuantizerSettings settings) => null;

    /// <summary>The plan of one selected layer, or null to leave it float.</summary>
    protected abstract LayerQuantization? PlanLayer(QuantizerSettings settings, object? method, string path, string type, int bits);

    /// <summary>True when the plan folds BatchNorms.</summary>
    protected virtual bool FoldBatchNorm(object? method) => false;

    /// <summary>Weight setting with the requested scheme and granularity.</summary>
    protected static TensorQuantization? WeightOf(QuantizerSettings s, int bits, QuantMethod method) =>
        s.Quantizes("weight") ? new TensorQuantization(bits, method, s.Scheme, s.Granularity) : null;

    /// <summary>True when <paramref name="path"/> is the first or last Conv2d/Linear of the model.</summary>
    protected static bool IsFirstOrLast(QuantizerSettings s, string path) =>
        s.WeightLayers[0].Path == path || s.WeightLayers[^1].Path == path;

    /// <summary>True when <paramref name="path"/> is the first Conv2d/Linear of the model (its input is the raw data).</summary>
    protected static bool IsFirst(QuantizerSettings s, string path) => s.WeightLayers[0].Path == path;
}
