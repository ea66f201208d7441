using Trainer.Abstractions.Tasks;

namespace Trainer.Core.Quantization;

/// <summary>What a quantization run produced.</summary>
/// <param name="Quantizer">The quantizer's name.</param>
/// <param name="ExportPath">The exported file.</param>
/// <param name="Score">The task's score the three figures are in.</param>
/// <param name="FloatScore">Validation score of the float model.</param>
/// <param name="CalibratedScore">Score of the simulated-quantized model before finetuning (on resume: as recorded by the run
/// that made the export; NaN when it has no record).</param>
/// <param name="QuantizedScore">Score of the exported model, reloaded.</param>
/// <param name="FloatBytes">Size of the float weights as TorchSharp saves them.</param>
/// <param name="ExportBytes">Size of the exported file.</param>
/// <param name="Layers">Quantized layers.</param>
/// <param name="Plan">The quantizer's summary of its plan.</param>
public sealed record QuantizationSummary(string Quantizer, string ExportPath, TaskScore Score, double FloatScore,
    double CalibratedScore, double QuantizedScore, long FloatBytes, long ExportBytes, int Layers, string Plan)
{
    /// <summary>Exported size over float size.</summary>
    public double SizeRatio => (double)ExportBytes / FloatBytes;

    /// <summary>The ONNX QDQ file and its score in ONNX Runtime, when asked for (<see cref="TaskQuantizationOptions.WriteOnnx"/>).</summary>
    public QuantizedOnnxResult? Onnx { get; init; }
}

