using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "observer": post-training quantization. Weights as <see cref="NaiveQuantizer"/>; activations (tensors=weight,input by
/// default) affine on an unsigned grid with ranges calibrated on calibration_batches (default 32) batches by
/// observer=minmax (default), moving-average (averaging_constant, default 0.01) or percentile (percentile, default 99.99).
/// </summary>
public sealed class ObserverQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "observer";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(8, ["weight", "input"], CalibrationBatches: 32);

    /// <inheritdoc/>
    protected override bool NeedsTraining => false;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings s)
    {
        var kind = s.Reader.Choice("observer", "minmax", "minmax", "moving-average", "percentile");
        var percentile = s.Reader.Double("percentile", 99.99, 50, 100);
        var constant = s.Reader.Double("averaging_constant", 0.01, 0, 1, minExclusive: true);
        if ((s.Quantizes("input") || s.Quantizes("output")) && s.CalibrationBatches == 0)
            throw new ArgumentException($"{QuantizerSettings.Prefix}:calibration_batches is 0, but observer needs calibration batches to measure activation ranges");
        var method = kind switch { "minmax" => QuantMethod.MinMax, "moving-average" => QuantMethod.MovingAverage, _ => QuantMethod.Percentile };
        return new TensorQuantization(8, method, QuantizationScheme.Affine, Unsigned: true, Percentile: percentile, AveragingConstant: constant);
    }

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits)
    {
        var activation = (TensorQuantization)method! with { Bits = bits };
        return new(path, WeightOf(s, bits, QuantMethod.Naive), s.Quantizes("input") ? activation : null, s.Quantizes("output") ? activation : null);
    }
}
