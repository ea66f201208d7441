using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "dorefa": DoReFa-Net (Zhou et al. 2016), 4 bits by default. Weights tanh-normalised to 2^k levels in [-1, 1];
/// activations (tensors=weight,input by default) clamped to [0, 1] and quantized to k bits. The first layer's input is the
/// raw data, not a [0, 1] activation, so it stays float. keep_first_last=true leaves the first and last layers float.
/// Needs fine-tuning.
/// </summary>
public sealed class DoReFaQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "dorefa";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(4, ["weight", "input"], Granularity: "per-tensor");

    /// <inheritdoc/>
    protected override bool NeedsTraining => true;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings s)
    {
        if (s.Granularity == QuantizationGranularity.PerChannel)
            throw new ArgumentException($"{QuantizerSettings.Prefix}:granularity: dorefa normalises each weight tensor as a whole; use per-tensor");
        return s.Reader.Bool("keep_first_last", false);
    }

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits)
    {
        if ((bool)method! && IsFirstOrLast(s, path)) return null;
        var t = new TensorQuantization(bits, QuantMethod.DoReFa);
        var layer = new LayerQuantization(path, s.Quantizes("weight") ? t : null,
            s.Quantizes("input") && !IsFirst(s, path) ? t : null, s.Quantizes("output") ? t : null);
        return layer is { Weight: null, Input: null, Output: null } ? null : layer;
    }
}
