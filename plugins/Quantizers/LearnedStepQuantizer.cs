using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "lsq": learned step size quantization (Esser et al. 2020), 4 bits by default. One learned step per tensor, initialised
/// to 2·mean|x|/sqrt(Qp) (weights at once, activations on the first batch) with gradient scale 1/sqrt(N·Qp). Activations
/// (tensors=weight,input by default) use an unsigned grid except the first layer's input (raw data); signed_inputs=true
/// makes all inputs signed. calibration_batches (default 1) initialises the activation steps from data before training;
/// with 0 the first training batch does. Needs fine-tuning.
/// </summary>
public sealed class LearnedStepQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "lsq";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(4, ["weight", "input"], Granularity: "per-tensor", CalibrationBatches: 1);

    /// <inheritdoc/>
    protected override bool NeedsTraining => true;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings s)
    {
        if (s.Granularity == QuantizationGranularity.PerChannel)
            throw new ArgumentException($"{QuantizerSettings.Prefix}:granularity: lsq learns one step per tensor; use per-tensor");
        return s.Reader.Bool("signed_inputs", false);
    }

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits)
    {
        var t = new TensorQuantization(bits, QuantMethod.Lsq);
        var input = t with { Unsigned = !(bool)method! && !IsFirst(s, path) };
        return new(path, s.Quantizes("weight") ? t : null, s.Quantizes("input") ? input : null, s.Quantizes("output") ? t : null);
    }
}
