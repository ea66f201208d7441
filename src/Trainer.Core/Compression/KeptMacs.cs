using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;

namespace Trainer.Core.Compression;

/// <summary>
/// The Conv2d/Linear MACs a model would have after a shrink, without changing it: the shrinker's own plan
/// (<see cref="ShrinkPlan"/>, which follows every graph edge, including residual adds, concatenations and flattens)
/// gives each layer's kept input and output widths, and each counted row of the unshrunk model is rescaled to them.
/// </summary>
/// <remarks>FlopsCounter's masked counting is not used here: its kept-count propagation stops at containers other than
/// Sequential (a residual block) and at concatenations, so it would over-count the consumers behind them.</remarks>
internal static class KeptMacs
{
    /// <summary>Default-mode MACs of the model <paramref name="report"/> counted, after shrinking by <paramref name="masks"/>.</summary>
    /// <exception cref="ArgumentException">The masks would be refused by <see cref="ChannelShrinker"/>.</exception>
    public static long After(ModelGraph graph, FlopsReport report, IReadOnlyDictionary<string, bool[]> masks, ShrinkOptions options)
    {
        var pruning = MaskValidator.Validate(graph, masks, options);
        var plans = ShrinkPlan.Build(graph, pruning).ToDictionary(p => p.Layer.Name);
        long total = 0;
        foreach (var row in report.Layers)
        {
            var layer = graph.FindLayer(row.Name);
            if (layer is null || !plans.TryGetValue(row.Name, out var plan)) { total += row.Flops; continue; }
            total += Rescale(row.Flops, layer, plan);
        }
        return total;
    }

    private static long Rescale(long macs, LayerInfo layer, LayerPlan plan)
    {
        if (layer.Kind == Graph.LayerKind.Linear)
        {
            long outF = layer.OutFeatures ?? 0, inF = layer.InFeatures ?? 0;
            if (outF == 0 || inF == 0) return macs;
            return macs / (outF * inF) * (plan.KeepOut?.LongLength ?? outF) * (plan.KeepIn?.LongLength ?? inF);
        }
        if (layer.Kind is not (Graph.LayerKind.Conv or Graph.LayerKind.DepthwiseConv or Graph.LayerKind.GroupedConv
                or Graph.LayerKind.TransposedConv) || layer.OutChannels is not { } cout || layer.InChannels is not { } cin || layer.Groups is not { } groups)
            return macs;
        // NNI (transposed convs too): cout * spatial * kernel * cin / groups; spatial * kernel is what the shrink leaves unchanged.
        long perPair = macs * groups / (cout * cin);
        if (layer.Kind == Graph.LayerKind.DepthwiseConv)
        {
            long kept = plan.KeepIn?.LongLength ?? cout;
            return kept * perPair;
        }
        long keptOut = plan.KeepOut?.LongLength ?? cout, keptIn = plan.KeepIn?.LongLength ?? cin;
        return keptOut * keptIn * perPair / groups;
    }
}
