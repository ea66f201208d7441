using ScottPlot;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>Draws a sensitivity result as a PNG: metric against sparsity, one line per layer.</summary>
public static class SensitivityPlot
{
    /// <summary>
    /// Saves one chart to <paramref name="pngPath"/> (through a temporary file renamed into place): a line
    /// with markers per layer, a legend naming the layers, labelled axes and the baseline metric as a
    /// dashed horizontal line (left out when the baseline is NaN, e.g. for a result read from CSV).
    /// </summary>
    /// <param name="result">The analysis result.</param>
    /// <param name="pngPath">Where to write the PNG.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="metricName">Label of the vertical axis.</param>
    public static void Save(SensitivityResult result, string pngPath, int width = 900, int height = 560, string metricName = "Validation metric")
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 100);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 100);
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var index = 0;
        foreach (var (layer, metrics) in result.Metrics)
        {
            var xs = metrics.Keys.Order().ToArray();
            var ys = xs.Select(x => metrics[x]).ToArray();
            var line = plot.Add.Scatter(xs, ys, palette.GetColor(index++));
            line.LegendText = layer;
            line.LineWidth = 2;
            line.MarkerSize = 6;
        }
        if (double.IsFinite(result.Baseline))
        {
            var baseline = plot.Add.HorizontalLine(result.Baseline, 1.5f, Colors.Black, LinePattern.Dashed);
            baseline.LegendText = $"baseline ({result.Baseline + 0.0:0.####})"; // + 0.0 turns -0 into 0
        }
        plot.Title("Sensitivity analysis: one layer pruned at a time");
        plot.XLabel("Sparsity (fraction of filters pruned)");
        plot.YLabel(metricName);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var s in result.Sparsities) ticks.AddMajor(s, PythonFloat.Repr(s));
        plot.Axes.Bottom.TickGenerator = ticks;
        if (result.Sparsities.Count > 0)
        {
            var margin = result.Sparsities.Count > 1 ? (result.Sparsities[^1] - result.Sparsities[0]) * 0.05 : 0.05;
            plot.Axes.AutoScale();
            plot.Axes.SetLimitsX(result.Sparsities[0] - margin, result.Sparsities[^1] + margin);
        }
        plot.ShowLegend(Edge.Right);

        IO.AtomicFile.Write(pngPath, temp => plot.SavePng(temp, width, height));
    }
}
