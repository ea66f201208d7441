using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Trainer.Host.Jobs;

/// <summary>What the quantize stage produced.</summary>
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
public sealed record QuantizationSummary(string Quantizer, string ExportPath, Trainer.Abstractions.Tasks.TaskScore Score, double FloatScore,
    double CalibratedScore, double QuantizedScore, long FloatBytes, long ExportBytes, int Layers, string Plan)
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
            .AddColumn("model").AddColumn(new TableColumn(Markup.Escape(s.Score.Name)).RightAligned()).AddColumn(new TableColumn("bytes").RightAligned())
            .AddColumn(new TableColumn("size ratio").RightAligned());
        table.AddRow("float", $"{s.FloatScore:0.0000}", $"{s.FloatBytes:N0}", "1.000");
        if (!double.IsNaN(s.CalibratedScore)) table.AddRow("quantized, before finetuning", $"{s.CalibratedScore:0.0000}", "", "");
        table.AddRow("quantized (exported)", $"{s.QuantizedScore:0.0000}", $"{s.ExportBytes:N0}", $"{s.SizeRatio:0.000}");
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
        }, new JsonSerializerOptions { WriteIndented = true }));
        logger.LogInformation("Quantization report: '{Json}'.", json);
    }
}
