using Trainer.Core.Graph;

namespace Trainer.Core.Pruning;

/// <summary>
/// Checks keep-masks before anything is changed: each names a producer of the graph and has one entry per
/// output channel; coupled producers (one dependency group) agree on the channels they share (their slices of the
/// group's axis); the group has no graph problem; every producer keeps a channel; the
/// mask keeps at least one channel, respects the group divisors of grouped convs and GroupNorm, and does not
/// touch the model's output layer unless allowed. Masks that keep every channel change nothing and pass.
/// </summary>
internal static class MaskValidator
{
    /// <summary>The masks that remove at least one channel, after every check.</summary>
    /// <exception cref="ArgumentException">A check failed; the message names the layers concerned.</exception>
    public static Dictionary<string, bool[]> Validate(ModelGraph graph, IReadOnlyDictionary<string, bool[]> masks, ShrinkOptions options)
    {
        var producers = graph.Producers.ToHashSet();
        foreach (var (name, mask) in masks)
        {
            if (!producers.Contains(name))
                throw new ArgumentException(graph.FindLayer(name) is { } layer
                    ? $"'{name}' ({layer.Type}, {layer.Kind}) is not a producer: only convolutions (groups 1 or grouped, not depthwise) and Linear layers that run once take masks; " +
                      "norms and depthwise convs follow their producer"
                    : $"'{name}' is not a layer of the graph", nameof(masks));
            long channels = graph.Layer(name).Channels ?? 0;
            if (mask is null || mask.Length != channels)
                throw new ArgumentException($"mask of '{name}' has {mask?.Length ?? 0} entries, the layer has {channels} output channels",
                    nameof(masks));
        }

        var pruning = new Dictionary<string, bool[]>();
        foreach (var group in graph.Groups)
        {
            var given = group.Producers.Where(masks.ContainsKey).ToList();
            if (!given.Any(p => masks[p].Contains(false))) continue;
            var axis = CheckAgreement(group, masks);
            CheckGroup(graph, group, axis, options);
            foreach (var (p, mask) in group.ProducerMasks(axis)) pruning[p] = mask;
        }
        return pruning;
    }

    /// <summary>
    /// The group's mask over its channel axis: every producer's mask laid on its slice; where slices overlap the masks
    /// must agree (a producer without a mask keeps all its channels).
    /// </summary>
    private static bool[] CheckAgreement(DependencyGroup group, IReadOnlyDictionary<string, bool[]> masks)
    {
        var reference = group.Producers.First(p => masks.TryGetValue(p, out var m) && m.Contains(false));
        var axis = new bool?[group.Channels];
        var owner = new string[group.Channels];
        var disagreements = new List<string>();
        foreach (var p in group.Producers.Where(p => p == reference).Concat(group.Producers.Where(p => p != reference)))
        {
            var slice = group.SliceOf(p);
            var mask = masks.GetValueOrDefault(p);
            var differ = new List<long>();
            string? other = null;
            for (long c = 0; c < slice.Count; c++)
            {
                bool keep = mask?[c] ?? true;
                long at = slice.Offset + c;
                if (axis[at] is null) { axis[at] = keep; owner[at] = p; }
                else if (axis[at] != keep) { differ.Add(c); other ??= owner[at]; }
            }
            if (differ.Count == 0) continue;
            disagreements.Add(mask is null
                ? $"'{p}' has no mask (it would keep all channels)"
                : $"'{p}' differs from '{other}' at channels {string.Join(",", differ.Take(10))}" +
                  (differ.Count > 10 ? $" and {differ.Count - 10} more" : "") +
                  (group.IsSliced ? $" (its channels lie at [{slice.Offset}, {slice.Offset + slice.Count}) of the group's {group.Channels})" : ""));
        }
        if (disagreements.Count > 0)
            throw new ArgumentException(
                $"masks disagree in coupled group {group.Id} ({string.Join(", ", group.Producers)}), whose channels meet " +
                $"(e.g. at a residual add): {string.Join("; ", disagreements)}. Give every member the same mask on the channels " +
                "they share, e.g. with MaskConflict.Fix or DependencyGroup.ProducerMasks", "keptOutputChannels");
        return axis.Select(k => k ?? true).ToArray();
    }

    private static void CheckGroup(ModelGraph graph, DependencyGroup group, bool[] axis, ShrinkOptions options)
    {
        string members = string.Join(", ", group.Producers);
        if (group.Problems.Count > 0)
            throw new ArgumentException($"cannot shrink {members}: " +
                // One sentence per layer and kind of problem, however many producers of the group reach it.
                string.Join("; ", group.Problems.GroupBy(p => (p.Kind, p.Layer)).Select(g => g.First().Message)), "keptOutputChannels");
        int kept = axis.Count(k => k);
        if (kept == 0)
            throw new ArgumentException($"the mask of {members} keeps no channel", "keptOutputChannels");
        var producerMasks = group.ProducerMasks(axis);
        foreach (var (p, mask) in producerMasks)
            if (!mask.Contains(true))
                throw new ArgumentException(
                    $"the mask of {members} keeps none of the channels of '{p}' ([{group.SliceOf(p).Offset}, " +
                    $"{group.SliceOf(p).Offset + mask.Length}) of the group's {group.Channels}); keep at least one", "keptOutputChannels");

        foreach (var p in group.Producers)
            if (!options.AllowOutputLayer && graph.EdgesFrom(p).Count == 0)
                throw new ArgumentException(
                    $"'{p}' produces the model's output; shrinking it changes the output shape (set ShrinkOptions.AllowOutputLayer to allow it)",
                    "keptOutputChannels");

        var divisors = group.Producers.Select(p => (Layer: p, Kept: producerMasks[p].Count(k => k)))
            .Concat(group.Followers.Select(f => (Layer: f, Kept: kept)))
            .Select(x => (x.Layer, x.Kept, Divisor: graph.GroupDependency.DivisorOf(x.Layer))).Where(x => x.Divisor > 1).ToList();
        var grouped = group.Producers.SelectMany(graph.EdgesFrom).Select(e => graph.Layer(e.Target))
            .Where(l => l.Kind is LayerKind.GroupedConv or LayerKind.GroupNorm).Select(l => $"'{l.Name}'").Distinct().ToList();
        foreach (var (layer, layerKept, divisor) in divisors)
            if (layerKept % divisor != 0)
                throw new ArgumentException(
                    $"the mask of {members} keeps {layerKept} of {(group.Producers.Contains(layer) ? group.SliceOf(layer).Count : axis.Length)} " +
                    $"channels, but '{layer}' needs a multiple of {divisor} " +
                    $"(grouped conv or GroupNorm{(grouped.Count > 0 ? " " + string.Join(", ", grouped) : "")}); " +
                    "MaskConflict.Fix balances masks over groups", "keptOutputChannels");
    }
}
