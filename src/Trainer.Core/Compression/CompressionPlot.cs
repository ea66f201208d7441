using ScottPlot;

namespace Trainer.Core.Compression;

/// <summary>Draws a compression run as a PNG: the task's validation score against MACs, one point per iteration.</summary>
public static class CompressionPlot
{
    /// <summary>
    /// Saves the chart to <paramref name="pngPath"/> (temporary file renamed into place): the score after finetuning per
    /// iteration joined by a line from the original model (iteration 0), the score right after each compress step as a
    /// second series, points labelled with their iteration.
    /// </summary>
    public static void Save(CompressionManifest manifest, string pngPath, int width = 900, int height = 560)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var plot = new Plot();
        double M(long macs) => macs / 1e6;
        var points = new List<(int Index, ModelMetrics Metrics)> { (0, manifest.Original) };
        points.AddRange(manifest.Iterations.Select(i => (i.Index, i.AfterFinetune)));

        var finetuned = plot.Add.Scatter(points.Select(p => M(p.Metrics.Macs)).ToArray(), points.Select(p => p.Metrics.Score).ToArray());
        finetuned.LegendText = "after finetuning";
        finetuned.LineWidth = 2;
        finetuned.MarkerSize = 8;
        if (manifest.Iterations.Count > 0)
        {
            var compressed = plot.Add.ScatterPoints(
                manifest.Iterations.Select(i => M(i.AfterCompress.Macs)).ToArray(),
                manifest.Iterations.Select(i => i.AfterCompress.Score).ToArray());
            compressed.LegendText = "right after compressing";
            compressed.MarkerSize = 8;
            compressed.MarkerShape = MarkerShape.OpenCircle;
        }
        foreach (var (index, metrics) in points)
        {
            var label = plot.Add.Text(index == 0 ? "original" : $"iteration {index}", M(metrics.Macs), metrics.Score);
            label.LabelFontSize = 11;
            label.OffsetY = -12;
        }
        var score = manifest.Score?.Name ?? "score";
        plot.Title($"{manifest.Model.Name}: {score} against MACs");
        plot.XLabel("Conv2d/Linear MACs per image (millions)");
        plot.YLabel($"Validation {score}" + (manifest.Score is { HigherIsBetter: false } ? " (lower is better)" : ""));
        plot.ShowLegend(Edge.Right);
        // Margins first: AutoScale applies them, and the point labels need room beside the outermost points.
        plot.Axes.Margins(0.2, 0.15);
        plot.Axes.AutoScale();
        IO.AtomicFile.Write(pngPath, temp => plot.SavePng(temp, width, height));
    }
}
