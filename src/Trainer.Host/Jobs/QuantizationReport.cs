using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Trainer.Core.Quantization;

namespace Trainer.Host.Jobs;

/// <summary>The quantize stage's report: a table and summary.json in the stage's log folder.</summary>
public static class QuantizationReport
{
    /// <summary>Prints the table and writes the JSON (temporary file renamed into place).</summary>
    public static void Write(RunFolders stage, QuantizationSummary s, ILogger logger)
    {
        var table = new Table().Title($"Quantization ({Markup.Escape(s.Quantizer)}, run {Markup.Escape(stage.RunName)})")
            .AddColumn("model").AddColumn(new TableColumn(Markup.Escape(s.Score.Name)).RightAligned()).AddColumn(new TableColumn("bytes").RightAligned())
            .AddColumn(new TableColumn("size ratio").RightAligned());
        table.AddRow("float", $"{s.FloatScore:0.0000}", $"{s.FloatBytes:N0}", "1.000");
        if (!double.IsNaN(s.CalibratedScore)) table.AddRow("quantized, before finetuning", $"{s.CalibratedScore:0.0000}", "", "");
        table.AddRow("quantized (exported)", $"{s.QuantizedScore:0.0000}", $"{s.ExportBytes:N0}", $"{s.SizeRatio:0.000}");
        if (s.Onnx is { } onnx)
            table.AddRow($"ONNX QDQ in ONNX Runtime (opset {onnx.Opset}, max |diff| {onnx.MaxAbsDifference:G3})", $"{onnx.OrtScore:0.0000}",
                $"{onnx.FileBytes:N0}", $"{(double)onnx.FileBytes / s.FloatBytes:0.000}");
        table.Caption(Markup.Escape(s.Plan));
        AnsiConsole.Write(table);

        Directory.CreateDirectory(stage.LogDir);
        var json = Path.Combine(stage.LogDir, "summary.json");
        Trainer.Core.IO.AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new
        {
            run = stage.RunName,
            quantizer = s.Quantizer,
            export = s.ExportPath,
            score = new { name = s.Score.Name, direction = s.Score.Direction.ToString() },
            float_score = s.FloatScore,
            calibrated_score = double.IsNaN(s.CalibratedScore) ? (double?)null : s.CalibratedScore,
            quantized_score = s.QuantizedScore,
            score_change = s.QuantizedScore - s.FloatScore,
            float_bytes = s.FloatBytes,
            export_bytes = s.ExportBytes,
            size_ratio = s.SizeRatio,
            layers = s.Layers,
            plan = s.Plan,
            onnx = s.Onnx?.Path,
            onnx_bytes = s.Onnx?.FileBytes,
            onnx_opset = s.Onnx?.Opset,
            onnx_score = s.Onnx?.OrtScore,
            onnx_score_change = s.Onnx is null ? (double?)null : s.Onnx.OrtScore - s.QuantizedScore,
            onnx_max_abs_difference = s.Onnx?.MaxAbsDifference,
            onnx_notes = s.Onnx?.Notes,
        }, new JsonSerializerOptions { WriteIndented = true }));
        logger.LogInformation("Quantization report: '{Json}'.", json);
    }
}
