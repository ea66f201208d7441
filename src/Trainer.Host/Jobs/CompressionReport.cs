using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Trainer.Core.Compression;

namespace Trainer.Host.Jobs;

/// <summary>The compression stage's report: a table per iteration, a PNG of the task's score against MACs and summary.json.</summary>
public static class CompressionReport
{
    /// <summary>Prints the table and writes the plot and the JSON into the stage's log folder.</summary>
    public static void Write(RunFolders stage, CompressionManifest manifest, string manifestPath, string stopReason, ILogger logger)
    {
        var o = manifest.Original;
        var score = manifest.Score?.Name ?? "score";
        var table = new Table().Title($"Compression of {Markup.Escape(manifest.Model.Name)} (run {Markup.Escape(stage.RunName)})")
            .AddColumn("iteration").AddColumn("compressor")
            .AddColumn(new TableColumn("MACs").RightAligned()).AddColumn(new TableColumn("MACs ratio").RightAligned())
            .AddColumn(new TableColumn("params").RightAligned()).AddColumn(new TableColumn("latency ms").RightAligned())
            .AddColumn(new TableColumn("speedup").RightAligned())
            .AddColumn(new TableColumn($"{Markup.Escape(score)} compressed").RightAligned()).AddColumn(new TableColumn($"{Markup.Escape(score)} finetuned").RightAligned());
        table.AddRow("original", "", $"{o.Macs:N0}", "1.000", $"{o.Params:N0}", $"{o.LatencyMs:0.000}", "1.00x", "", $"{o.Score:0.0000}");
        foreach (var i in manifest.Iterations)
        {
            var m = i.AfterFinetune;
            table.AddRow(i.Index.ToString(), Markup.Escape(i.Compressor), $"{m.Macs:N0}", $"{(double)m.Macs / o.Macs:0.000}", $"{m.Params:N0}",
                $"{m.LatencyMs:0.000}", $"{i.Speedup ?? o.LatencyMs / m.LatencyMs:0.00}x", $"{i.AfterCompress.Score:0.0000}", $"{m.Score:0.0000}");
        }
        table.Caption($"stopped because {Markup.Escape(stopReason)}");
        AnsiConsole.Write(table);
        foreach (var i in manifest.Iterations.Where(i => i.TimingDecisions.Count > 0))
            AnsiConsole.MarkupLine($"Iteration {i.Index}: timings on this machine decided {Markup.Escape(string.Join("; ", i.TimingDecisions))}.");

        Directory.CreateDirectory(stage.LogDir);
        var png = Path.Combine(stage.LogDir, "score-vs-macs.png");
        CompressionPlot.Save(manifest, png);
        var json = Path.Combine(stage.LogDir, "summary.json");
        var current = manifest.Current;
        Trainer.Core.IO.AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new
        {
            run = stage.RunName,
            model = manifest.Model.Name,
            stop_reason = stopReason,
            iterations = manifest.Iterations.Count,
            manifest = manifestPath,
            original = o,
            compressed = current,
            macs_ratio = (double)current.Macs / o.Macs,
            params_ratio = (double)current.Params / o.Params,
            // Measured against the original in alternating rounds when the iteration has it; else the two separate medians.
            latency_speedup = manifest.Iterations.LastOrDefault()?.Speedup ?? o.LatencyMs / current.LatencyMs,
            score = manifest.Score,
            score_change = current.Score - o.Score,
            // Where a timing decided: the same configuration reproduces these only from a cached table or a recorded decision.
            timing_decisions = manifest.Iterations.ToDictionary(i => i.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), i => i.TimingDecisions),
        }, new JsonSerializerOptions { WriteIndented = true }));
        logger.LogInformation("Compression report: plot '{Png}', summary '{Json}'.", png, json);
    }
}
