using Trainer.Abstractions.Quantization;

namespace Trainer.Plugins.Quantizers;

/// <summary>
/// "qat": quantization-aware training (Jacob et al. 2018). Weights fake-quantized from their own range at every step
/// (8-bit symmetric per channel by default), activations (tensors=weight,input by default) with exponential moving averages
/// of their ranges (averaging_constant, default 0.01), straight-through gradients. calibration_batches (default 8) seeds the
/// ranges before training; fold_bn=true folds each BatchNorm that follows a quantized conv into it first.
/// </summary>
public sealed class QatQuantizer : QuantizerBase
{
    /// <inheritdoc/>
    public override string Name => "qat";

    /// <inheritdoc/>
    protected override MethodDefaults Defaults { get; } = new(8, ["weight", "input"], CalibrationBatches: 8);

    /// <inheritdoc/>
    protected override bool NeedsTraining => true;

    /// <inheritdoc/>
    protected override object? ReadMethodSettings(QuantizerSettings s)
    {
        var constant = s.Reader.Double("averaging_constant", 0.01, 0, 1, minExclusive: true);
        var fold = s.Reader.Bool("fold_bn", false);
        return (new TensorQuantization(8, QuantMethod.MovingAverage, QuantizationScheme.Affine, Unsigned: true, AveragingConstant: constant), fold);
    }

    /// <inheritdoc/>
    protected override bool FoldBatchNorm(object? method) => (((TensorQuantization, bool))method!).Item2;

    /// <inheritdoc/>
    protected override LayerQuantization? PlanLayer(QuantizerSettings s, object? method, string path, string type, int bits)
    {
        var activation = (((TensorQuantization, bool))method!).Item1 with { Bits = bits };
        return new(path, WeightOf(s, bits, QuantMethod.Naive), s.Quantizes("input") ? activation : null, s.Quantizes("output") ? activation : null);
    }
}
