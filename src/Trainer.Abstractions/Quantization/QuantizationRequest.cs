using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace Trainer.Abstractions.Quantization;

/// <summary>What the host hands a quantizer: the model, what it eats, calibration data and the settings.</summary>
public sealed class QuantizationRequest
{
    /// <summary>The trained model to quantize. The quantizer reads it only; the core applies the plan.</summary>
    public required torch.nn.Module<torch.Tensor, torch.Tensor> Model { get; init; }

    /// <summary>Shape of one example input, batch dimension included (e.g. [1, 1, 28, 28]).</summary>
    public required IReadOnlyList<long> ExampleInputShape { get; init; }

    /// <summary>Batches for calibrating activation ranges; null when none is available.</summary>
    public IBatchLoader? CalibrationData { get; init; }

    /// <summary>Free-form settings from configuration, by key; each quantizer documents the keys it reads.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Where the quantizer logs its choices.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
