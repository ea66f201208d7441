using Trainer.Core.Graph;

namespace Trainer.Core.Pruning;

/// <summary>What to keep of one layer: output channels (producers) and input positions (consumers and followers).</summary>
/// <param name="Layer">The layer as the graph saw it.</param>
/// <param name="KeepOut">Kept output channels of a producer, ascending; null when its outputs do not change.</param>
/// <param name="KeepIn">Kept input positions (channels, or features after a flatten), ascending; null when its input does not change.
/// For norms and depthwise convs these are also the kept outputs.</param>
/// <param name="InWidth">Size of the layer's input channel (feature) dimension before shrinking.</param>
internal sealed record LayerPlan(LayerInfo Layer, long[]? KeepOut, long[]? KeepIn, long InWidth);

/// <summary>
/// Turns validated producer masks into per-layer keep lists. A layer's kept input positions come from ALL
/// edges arriving at it: each pruned channel c of a producer removes the positions
/// [offset + c*block, offset + (c+1)*block) of its mapping; positions no pruned producer covers stay
/// (the other branches of a concatenation, or the model's input). Grouped convs must lose the same number
/// of channels in every group, in their inputs and their outputs; otherwise the plan is refused.
/// </summary>
internal static class ShrinkPlan
{
    /// <summary>One plan per changed layer, in execution order.</summary>
    /// <exception cref="ArgumentException">A grouped conv or GroupNorm would lose unequal numbers of channels per group.</exception>
    public static List<LayerPlan> Build(ModelGraph graph, IReadOnlyDictionary<string, bool[]> pruning)
    {
        var keepIn = new Dictionary<string, (long[] Keep, long Width)>();
        var targets = graph.Edges.Where(e => pruning.ContainsKey(e.Producer)).Select(e => e.Target).Distinct();
        foreach (var target in targets)
        {
            var incoming = graph.EdgesTo(target);
            long width = incoming[0].TargetWidth;
            var removed = new bool[width];
            foreach (var edge in incoming)
            {
                if (!pruning.TryGetValue(edge.Producer, out var mask)) continue;
                for (long c = 0; c < mask.Length; c++)
                {
                    if (mask[c]) continue;
                    long start = edge.Mapping.Start(c);
                    for (long i = start; i < start + edge.Mapping.BlockSize; i++) removed[i] = true;
                }
            }
            keepIn[target] = (Enumerable.Range(0, (int)width).Where(i => !removed[i]).Select(i => (long)i).ToArray(), width);
        }

        var plans = new List<LayerPlan>();
        foreach (var layer in graph.Layers)
        {
            long[]? keepOut = pruning.TryGetValue(layer.Name, out var mask) ? Indices(mask) : null;
            var input = keepIn.TryGetValue(layer.Name, out var k) ? k : default;
            if (keepOut is null && input.Keep is null) continue;
            var plan = new LayerPlan(layer, keepOut, input.Keep, input.Keep is null ? 0 : input.Width);
            CheckGroups(plan);
            plans.Add(plan);
        }
        return plans;
    }

    /// <summary>Indices of the true entries.</summary>
    public static long[] Indices(bool[] mask) => Enumerable.Range(0, mask.Length).Where(c => mask[c]).Select(c => (long)c).ToArray();

    /// <summary>How many of <paramref name="kept"/> fall in each of <paramref name="groups"/> equal slices of <paramref name="width"/>.</summary>
    public static long[] PerGroup(long[] kept, long width, long groups)
    {
        var counts = new long[groups];
        long size = width / groups;
        foreach (var i in kept) counts[i / size]++;
        return counts;
    }

    private static void CheckGroups(LayerPlan plan)
    {
        var layer = plan.Layer;
        if (layer.Kind == LayerKind.GroupedConv && layer.Groups is { } groups)
        {
            if (plan.KeepIn is { } keepIn) Balanced(layer.Name, "input", PerGroup(keepIn, plan.InWidth, groups));
            if (plan.KeepOut is { } keepOut) Balanced(layer.Name, "output", PerGroup(keepOut, layer.OutChannels ?? 0, groups));
        }
        if (layer.Kind == LayerKind.GroupNorm && layer.NumGroups is { } normGroups && plan.KeepIn is { } kept && kept.Length % normGroups != 0)
            throw new ArgumentException(
                $"GroupNorm '{layer.Name}' would keep {kept.Length} channels, not a multiple of its {normGroups} groups", "keptOutputChannels");
    }

    private static void Balanced(string layer, string side, long[] perGroup)
    {
        if (perGroup.Distinct().Count() > 1)
            throw new ArgumentException(
                $"grouped conv '{layer}' ({perGroup.Length} groups) would keep {string.Join("/", perGroup)} {side} channels per group; " +
                "every group must keep the same number (MaskConflict.Fix balances masks over groups)", "keptOutputChannels");
    }
}
