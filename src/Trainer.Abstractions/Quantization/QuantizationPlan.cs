namespace Trainer.Abstractions.Quantization;

/// <summary>What a quantizer chose: per layer what to quantize, and what the run must do afterwards.</summary>
/// <param name="Quantizer">Name of the quantizer that made the plan.</param>
/// <param name="Layers">The selected Conv2d/Linear layers, in model order.</param>
/// <param name="CalibrationBatches">Batches of calibration data to run before use (0: none needed).</param>
/// <param name="NeedsTraining">True when the plan only reaches its accuracy after fine-tuning (QAT, LSQ, DoReFa, BNN).</param>
/// <param name="FoldBatchNorm">True folds each BatchNorm that directly follows a selected Conv2d into it before wrapping.</param>
/// <param name="Summary">One sentence a person reads in the run's log.</param>
public sealed record QuantizationPlan(
    string Quantizer,
    IReadOnlyList<LayerQuantization> Layers,
    int CalibrationBatches,
    bool NeedsTraining,
    bool FoldBatchNorm,
    string Summary)
{
    /// <summary>True when some activation quantizer tracks its range from data.</summary>
    public bool NeedsCalibration => CalibrationBatches > 0;
}

/// <summary>What to quantize in one layer; null for a tensor left in float.</summary>
/// <param name="Layer">Qualified module path ("features.0", "fc1").</param>
/// <param name="Weight">The layer's weight.</param>
/// <param name="Input">The layer's input activation.</param>
/// <param name="Output">The layer's output activation.</param>
public sealed record LayerQuantization(string Layer, TensorQuantization? Weight, TensorQuantization? Input, TensorQuantization? Output);

/// <summary>How one tensor is quantized.</summary>
/// <param name="Bits">Bit width, 1..16 (at most 8 for a weight that is exported).</param>
/// <param name="Method">How the range or levels are found.</param>
/// <param name="Scheme">Symmetric (zero point fixed) or affine.</param>
/// <param name="Granularity">One scale per tensor or per output channel (weights only).</param>
/// <param name="Unsigned">True for an unsigned grid [0, 2^bits − 1] (activations after ReLU).</param>
/// <param name="Percentile">Upper percentile for <see cref="QuantMethod.Percentile"/>.</param>
/// <param name="AveragingConstant">Weight of the newest batch for <see cref="QuantMethod.MovingAverage"/>.</param>
public sealed record TensorQuantization(
    int Bits,
    QuantMethod Method,
    QuantizationScheme Scheme = QuantizationScheme.Symmetric,
    QuantizationGranularity Granularity = QuantizationGranularity.PerTensor,
    bool Unsigned = false,
    double Percentile = 99.99,
    double AveragingConstant = 0.01);

/// <summary>How a tensor's quantization range or levels are found.</summary>
public enum QuantMethod
{
    /// <summary>Min/max of the tensor itself at every forward (weights; no data needed).</summary>
    Naive,

    /// <summary>Running min/max over calibration batches (activations).</summary>
    MinMax,

    /// <summary>Exponential moving average of batch min/max (Jacob et al. 2018; activations).</summary>
    MovingAverage,

    /// <summary>Running mean of per-batch percentiles (activations; clips outliers).</summary>
    Percentile,

    /// <summary>DoReFa-Net: tanh-normalised k-bit weights, clamp-[0, 1] k-bit activations.</summary>
    DoReFa,

    /// <summary>Sign with a straight-through estimator (weights scaled per channel by mean |w|).</summary>
    Binary,

    /// <summary>Learned step size (Esser et al. 2020).</summary>
    Lsq,
}

/// <summary>How real values map onto the integer grid.</summary>
public enum QuantizationScheme
{
    /// <summary>Zero point fixed; the range is symmetric around zero.</summary>
    Symmetric,

    /// <summary>Scale and zero point cover [min, max].</summary>
    Affine,
}

/// <summary>One scale for the whole tensor or one per output channel.</summary>
public enum QuantizationGranularity
{
    /// <summary>One scale and zero point for the tensor.</summary>
    PerTensor,

    /// <summary>One scale and zero point per output channel (weights).</summary>
    PerChannel,
}
