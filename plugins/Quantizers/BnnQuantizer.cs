using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "bnn": binarized networks (Courbariaux et al. 2016) with XNOR-Net weight scaling: weights α·sign(w) with α = mean|w| per
/// output channel, activations sign(x) with the hardtanh straight-through estimator. Activations are binarized where they
/// carry a sign: at the output of each binarized layer, before its BatchNorm and ReLU (tensors=weight,output by default);
/// the input of a layer that follows a ReLU is never negative, so sign() would turn it into all ones. The first and last
/// Conv2d/Linear stay float (keep_first_last=true, the papers' practice). Needs fine-tuning.
/// </summary>
public sealed class BnnQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "bnn";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(1, ["weight", "output"]);

    /// <inheritdoc/>
    protected override bool NeedsTraining => true;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings s)
    {
        if (s.Reader.Text("bits") is { } bits && bits != "1")
            throw new ArgumentException($"{QuantizerSettings.Prefix}:bits is '{bits}', but bnn binarizes (1 bit); remove the key or use lsq/dorefa for k bits");
        return s.Reader.Bool("keep_first_last", true);
    }

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits)
    {
        if ((bool)method! && IsFirstOrLast(s, path)) return null;
        var t = new TensorQuantization(1, QuantMethod.Binary);
        return new(path, s.Quantizes("weight") ? t : null, s.Quantizes("input") ? t : null, s.Quantizes("output") ? t : null);
    }
}
