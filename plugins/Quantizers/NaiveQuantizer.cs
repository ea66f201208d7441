using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "naive": weights only, 8-bit symmetric per output channel by default (granularity=per-tensor for one scale), ranges
/// from the weights themselves; no data and no training.
/// </summary>
public sealed class NaiveQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "naive";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(8, ["weight"]);

    /// <inheritdoc/>
    protected override bool NeedsTraining => false;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings settings)
    {
        if (settings.Quantizes("input") || settings.Quantizes("output"))
            throw new ArgumentException($"{QuantizerSettings.Prefix}:tensors: naive quantizes weights only; use 'observer' for activations");
        return null;
    }

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits) =>
        new(path, WeightOf(s, bits, QuantMethod.Naive), null, null);
}
