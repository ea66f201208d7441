using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>The quantized model as ONNX QDQ, measured in ONNX Runtime.</summary>
/// <param name="Path">The file (model.int8.onnx).</param>
/// <param name="FileBytes">Its size.</param>
/// <param name="Opset">Its opset.</param>
/// <param name="OrtScore">The task's validation score of the file run by ONNX Runtime.</param>
/// <param name="MaxAbsDifference">Largest |ONNX Runtime − TorchSharp| output difference on the first validation batch.</param>
/// <param name="Notes">What the export re-expressed (low-bit grids stored as int8), one line each.</param>
public sealed record QuantizedOnnxResult(string Path, long FileBytes, int Opset, double OrtScore, double MaxAbsDifference, IReadOnlyList<string> Notes);

/// <summary>
/// Writes a reloaded quantized model (<see cref="QuantizedModelFile.Load"/>) as ONNX QDQ next to its quantized file and
/// scores it in ONNX Runtime on the task's validation data (docs/onnx-export.md, section 7).
/// </summary>
public static class QuantizedOnnxExport
{
    /// <summary>File name of the QDQ model in the run's checkpoint folder.</summary>
    public const string FileName = "model.int8.onnx";

    /// <summary>Exports <paramref name="quantized"/> for <paramref name="inputShape"/> to <paramref name="path"/>, runs it in ONNX Runtime
    /// with <paramref name="threads"/> threads, and scores it with <paramref name="task"/> on <paramref name="validation"/>.</summary>
    /// <exception cref="OnnxExportException">A layer's quantizer has no QDQ form (named).</exception>
    /// <exception cref="IOException">The file exists and <paramref name="overwrite"/> is false.</exception>
    public static QuantizedOnnxResult Run(nn.Module<Tensor, Tensor> quantized, IReadOnlyList<long> inputShape, string path, TrainingTask task,
        IBatchLoader validation, int threads, bool overwrite, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(validation);
        var export = OnnxExporter.Export(quantized, [1, .. inputShape.Skip(1)], path, new OnnxExportOptions { Overwrite = overwrite });
        foreach (var note in export.Notes) logger.LogInformation("ONNX QDQ export: {Note}", note);
        using var ort = OnnxRuntimeModule.Open(export.Path, threads);
        double difference;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            quantized.eval();
            var batch = validation.GetBatches(0).First();
            difference = (ort.call(batch.Inputs) - quantized.call(batch.Inputs).cpu()).abs().max().item<float>();
        }
        var score = task.ScoreOf(ort, validation);
        logger.LogInformation("Wrote '{Path}' ({Bytes:N0} bytes, opset {Opset}, {Layers} quantized layer(s)); ONNX Runtime: {Score} = {Value:0.0000}, " +
                              "outputs within {Difference:G3} of TorchSharp's", export.Path, export.FileBytes, export.Opset, export.QuantizedLayers,
            task.Score.Name, score, difference);
        return new QuantizedOnnxResult(export.Path, export.FileBytes, export.Opset, score, difference, export.Notes);
    }
}
