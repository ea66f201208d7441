using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Trainer.Core.Training;

namespace Trainer.Host.Jobs;

/// <summary>The end-of-run report: a table on the console and summary.json in the run's log folder.</summary>
public static class RunReport
{
    /// <summary>Prints the table and writes the JSON (to a temporary file renamed into place).</summary>
    public static void Write(RunFolders folders, TrainResult result, ILogger logger)
    {
        var table = new Table().Title($"Run {Markup.Escape(folders.RunName)}").AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("epochs", result.EpochsCompleted.ToString());
        table.AddRow("steps", result.GlobalStep.ToString());
        foreach (var (name, value) in result.Metrics.Where(kv => !kv.Key.StartsWith("train/") || kv.Key.StartsWith("train/epoch_")).OrderBy(kv => kv.Key))
            table.AddRow(Markup.Escape(name), value.ToString("0.0000"));
        table.AddRow("stopped because", Markup.Escape(result.StopReason));
        AnsiConsole.Write(table);

        var path = Path.Combine(folders.LogDir, "summary.json");
        var json = JsonSerializer.Serialize(new
        {
            run = folders.RunName,
            epochs = result.EpochsCompleted,
            steps = result.GlobalStep,
            stop_reason = result.StopReason,
            best_metric = result.BestMetric,
            metrics = result.Metrics,
            checkpoint_dir = folders.CheckpointDir,
        }, new JsonSerializerOptions { WriteIndented = true });
        Trainer.Core.IO.AtomicFile.WriteAllText(path, json);
        logger.LogInformation("Summary written to '{Path}'.", path);
    }
}
