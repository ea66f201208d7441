using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Trainer.Host.Jobs;

/// <summary>What the quantize stage produced.</summary>
/// <param name="Quantizer">The quantizer's name.</param>
/// <param name="ExportPath">The exported file.</param>
/// <param name="FloatAccuracy">Validation accuracy of the float model.</param>
/// <param name="CalibratedAccuracy">Accuracy of the simulated-quantized model before finetuning (on resume: as recorded by the run
/// that made the export; NaN when it has no record).</param>
/// <param name="QuantizedAccuracy">Accuracy of the exported model, reloaded.</param>
/// <param name="FloatBytes">Size of the float weights as TorchSharp saves them.</param>
/// <param name="ExportBytes">Size of the exported file.</param>
/// <param name="Layers">Quantized layers.</param>
/// <param name="Plan">The quantizer's summary of its plan.</param>
public sealed record QuantizationSummary(string Quantizer, string ExportPath, double FloatAccuracy, double CalibratedAccuracy,
    double QuantizedAccuracy, long FloatBytes, long ExportBytes, int Layers, string Plan)
{
    /// <summary>Exported size over float size.</summary>
    public double SizeRatio => (double)ExportBytes / FloatBytes;
}

/// <summary>The quantize stage's report: a table and summary.json in the stage's log folder.</summary>
public static class QuantizationReport
{
    /// <summary>Prints the table and writes the JSON (temporary file renamed into place).</summary>
    public static void Write(RunFolders stage, QuantizationSummary s, ILogger logger)
    {
        var table = new Table().Title($"Quantization ({Markup.Escape(s.Quantizer)}, run {Markup.Escape(stage.RunName)})")
            .AddColumn("model").AddColumn(new TableColumn("accuracy").RightAligned()).AddColumn(new TableColumn("bytes").RightAligned())
            .AddColumn(new TableColumn("size ratio").RightAligned());
        table.AddRow("float", $"{s.FloatAccuracy:0.0000}", $"{s.FloatBytes:N0}", "1.000");
        if (!double.IsNaN(s.CalibratedAccuracy)) table.AddRow("quantized, before finetuning", $"{s.CalibratedAccuracy:0.0000}", "", "");
        table.AddRow("quantized (exported)", $"{s.QuantizedAccuracy:0.0000}", $"{s.ExportBytes:N0}", $"{s.SizeRatio:0.000}");
        table.Caption(Markup.Escape(s.Plan));
        AnsiConsole.Write(table);

        Directory.CreateDirectory(stage.LogDir);
        var json = Path.Combine(stage.LogDir, "summary.json");
        Trainer.Core.IO.AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new
        {
            run = stage.RunName,
            quantizer = s.Quantizer,
            export = s.ExportPath,
            float_accuracy = s.FloatAccuracy,
            calibrated_accuracy = double.IsNaN(s.CalibratedAccuracy) ? (double?)null : s.CalibratedAccuracy,
            quantized_accuracy = s.QuantizedAccuracy,
            accuracy_change = s.QuantizedAccuracy - s.FloatAccuracy,
            float_bytes = s.FloatBytes,
            export_bytes = s.ExportBytes,
            size_ratio = s.SizeRatio,
            layers = s.Layers,
            plan = s.Plan,
        }, new JsonSerializerOptions { WriteIndented = true }));
        logger.LogInformation("Quantization report: '{Json}'.", json);
    }
}
