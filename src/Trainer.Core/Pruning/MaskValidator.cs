using Trainer.Core.Graph;

namespace Trainer.Core.Pruning;

/// <summary>
/// Checks keep-masks before anything is changed: each names a producer of the graph and has one entry per
/// output channel; coupled producers (one dependency group) agree; the group has no graph problem; the
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
                    ? $"'{name}' ({layer.Type}, {layer.Kind}) is not a producer: only Conv2d and Linear layers that run once take masks; " +
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
            var mask = CheckAgreement(group, masks);
            CheckGroup(graph, group, mask, options);
            foreach (var p in group.Producers) pruning[p] = mask;
        }
        return pruning;
    }

    private static bool[] CheckAgreement(DependencyGroup group, IReadOnlyDictionary<string, bool[]> masks)
    {
        var reference = group.Producers.First(p => masks.TryGetValue(p, out var m) && m.Contains(false));
        var mask = masks[reference];
        var disagreements = new List<string>();
        foreach (var p in group.Producers.Where(p => p != reference))
        {
            if (!masks.TryGetValue(p, out var other))
            {
                disagreements.Add($"'{p}' has no mask (it would keep all channels)");
                continue;
            }
            var differ = Enumerable.Range(0, mask.Length).Where(c => mask[c] != other[c]).ToList();
            if (differ.Count > 0)
                disagreements.Add($"'{p}' differs from '{reference}' at channels {string.Join(",", differ.Take(10))}" +
                                  (differ.Count > 10 ? $" and {differ.Count - 10} more" : ""));
        }
        if (disagreements.Count > 0)
            throw new ArgumentException(
                $"masks disagree in coupled group {group.Id} ({string.Join(", ", group.Producers)}), whose channels meet " +
                $"(e.g. at a residual add): {string.Join("; ", disagreements)}. Give every member the same mask, " +
                "e.g. with MaskConflict.Fix", "keptOutputChannels");
        return mask;
    }

    private static void CheckGroup(ModelGraph graph, DependencyGroup group, bool[] mask, ShrinkOptions options)
    {
        string members = string.Join(", ", group.Producers);
        if (group.Problems.Count > 0)
            throw new ArgumentException($"cannot shrink {members}: {string.Join("; ", group.Problems.Select(p => p.Message))}",
                "keptOutputChannels");
        int kept = mask.Count(k => k);
        if (kept == 0)
            throw new ArgumentException($"the mask of {members} keeps no channel", "keptOutputChannels");

        foreach (var p in group.Producers)
            if (!options.AllowOutputLayer && graph.EdgesFrom(p).Count == 0)
                throw new ArgumentException(
                    $"'{p}' produces the model's output; shrinking it changes the output shape (set ShrinkOptions.AllowOutputLayer to allow it)",
                    "keptOutputChannels");

        var divisors = group.Producers.Concat(group.Followers)
            .Select(l => (Layer: l, Divisor: graph.GroupDependency.DivisorOf(l))).Where(x => x.Divisor > 1).ToList();
        var grouped = group.Producers.SelectMany(graph.EdgesFrom).Select(e => graph.Layer(e.Target))
            .Where(l => l.Kind is LayerKind.GroupedConv or LayerKind.GroupNorm).Select(l => $"'{l.Name}'").Distinct().ToList();
        foreach (var (layer, divisor) in divisors)
            if (kept % divisor != 0)
                throw new ArgumentException(
                    $"the mask of {members} keeps {kept} of {mask.Length} channels, but '{layer}' needs a multiple of {divisor} " +
                    $"(grouped conv or GroupNorm{(grouped.Count > 0 ? " " + string.Join(", ", grouped) : "")}); " +
                    "MaskConflict.Fix balances masks over groups", "keptOutputChannels");
    }
}
