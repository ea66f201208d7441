namespace Trainer.Abstractions.Quantization;

/// <summary>
/// A quantization method, built in or loaded from a plugin (same loading rules as
/// <see cref="Compression.ICompressor"/>). A quantizer only chooses: it reads the request and returns a
/// <see cref="QuantizationPlan"/>; the core wraps the layers, calibrates, trains and exports.
/// </summary>
public interface IQuantizer
{
    /// <summary>The name configuration uses to pick this quantizer (e.g. "qat"). Unique across plugins.</summary>
    string Name { get; }

    /// <summary>
    /// Decides what to quantize in <see cref="QuantizationRequest.Model"/> without changing it. Throws
    /// <see cref="ArgumentException"/> naming the setting or layer when the request cannot be honoured (bad bit width,
    /// unknown scheme, calibration asked without data, a layer that is not a Conv2d or Linear).
    /// </summary>
    QuantizationPlan Plan(QuantizationRequest request);
}
