using System.Text.Json;
using Microsoft.Extensions.Logging;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>What the ONNX part of an export wrote and found.</summary>
/// <param name="Path">model.onnx.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Opset">Its opset.</param>
/// <param name="MaxAbsDifference">The largest |ONNX Runtime − TorchSharp| over the validation samples checked.</param>
/// <param name="Samples">Validation samples checked.</param>
/// <param name="TorchSharpScore">The task's score of the TorchSharp model on those samples.</param>
/// <param name="OnnxRuntimeScore">The task's score from ONNX Runtime's outputs on the same samples.</param>
/// <param name="OnnxRuntimeMs">ONNX Runtime's batch-1 median.</param>
/// <param name="TorchSharpMs">TorchSharp's batch-1 median of the same model, timed in the same alternating rounds.</param>
public sealed record OnnxSummary(string Path, long Bytes, long Opset, double MaxAbsDifference, long Samples, double TorchSharpScore,
    double OnnxRuntimeScore, double OnnxRuntimeMs, double TorchSharpMs)
{
    /// <summary>TorchSharp's batch-1 time over ONNX Runtime's.</summary>
    public double Speedup => TorchSharpMs / OnnxRuntimeMs;

    /// <summary>Reads the figures back from an export's summary.json; null when it has none (an export without ONNX, or an
    /// older report).</summary>
    public static OnnxSummary? FromReport(string summaryJson)
    {
        if (!File.Exists(summaryJson)) return null;
        try
        {
            var root = JsonDocument.Parse(File.ReadAllText(summaryJson)).RootElement;
            if (!root.TryGetProperty("onnx_runtime_score", out var ortScore) || ortScore.ValueKind != JsonValueKind.Number) return null;
            return new OnnxSummary(root.GetProperty("onnx").GetString()!, root.GetProperty("onnx_bytes").GetInt64(), root.GetProperty("onnx_opset").GetInt64(),
                root.GetProperty("onnx_max_abs_difference").GetDouble(), root.GetProperty("onnx_check_samples").GetInt64(),
                root.GetProperty("onnx_torchsharp_score").GetDouble(), ortScore.GetDouble(), root.GetProperty("onnx_runtime_latency_ms").GetDouble(),
                root.GetProperty("onnx_torchsharp_latency_ms").GetDouble());
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;   // a report of another shape: the figures are simply not shown
        }
    }
}

/// <summary>
/// The ONNX part of `trainer export` (Export:Format=onnx): Core's <see cref="OnnxExporter"/> writes model.onnx,
/// <see cref="OnnxTaskCheck"/> checks it on the task's validation samples (outputs and score) and
/// <see cref="OnnxRuntimeLatency"/> times it at batch 1 against TorchSharp. Failures become one <see cref="JobException"/>.
/// </summary>
internal static class OnnxExportStep
{
    /// <summary>Writes and checks <paramref name="model"/> as model.onnx in <paramref name="folder"/>.</summary>
    public static OnnxSummary Run(LoadedModel model, string folder, bool resume, TrainingTask task, OnnxTaskCheckOptions check, ILogger logger)
    {
        long[] shape = [1, .. model.InputShape.Skip(1)];
        try
        {
            var written = OnnxExporter.Export(model.Network, shape, Path.Combine(folder, ExportJob.OnnxFileName), new OnnxExportOptions { Overwrite = resume });
            var result = OnnxTaskCheck.Verify(written.Path, model.Network, task, check);
            OnnxLatency latency;
            using (var ort = OnnxRuntimeSession.Open(written.Path, check.Threads))
                latency = OnnxRuntimeLatency.Measure(ort, shape, model.Network);
            logger.LogInformation(
                "Exported '{Onnx}' (opset {Opset}, {Bytes} bytes); on {Samples} validation samples ONNX Runtime matches TorchSharp to {Difference:g3}, " +
                "{Score} {Ort:0.0000} (TorchSharp {Torch:0.0000}); batch 1: {OrtMs:0.000} ms in ONNX Runtime, {TorchMs:0.000} ms in TorchSharp.",
                written.Path, result.Opset, result.FileBytes, result.Samples, result.MaxAbsDifference, task.Score.Name, result.OnnxRuntimeScore,
                result.TorchSharpScore, latency.OnnxRuntimeMs, latency.TorchSharpMs);
            return new OnnxSummary(written.Path, result.FileBytes, result.Opset, result.MaxAbsDifference, result.Samples, result.TorchSharpScore,
                result.OnnxRuntimeScore, latency.OnnxRuntimeMs, latency.TorchSharpMs!.Value);
        }
        catch (OnnxExportException e)
        {
            throw new JobException($"The model '{model.Name}' cannot be exported to ONNX: {e.Message}");
        }
        catch (OnnxRuntimeRejectedException e)
        {
            throw new JobException(e.Message);
        }
        catch (IOException e) when (!resume)
        {
            throw new JobException($"{e.Message} (pass --resume to replace it)");
        }
    }
}
