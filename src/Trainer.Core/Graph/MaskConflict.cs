namespace Trainer.Core.Graph;

/// <summary>
/// Makes filter masks consistent with a <see cref="ModelGraph"/> before the core shrinks the model,
/// like NNI's fix_mask_conflict: first every channel dependency set gets one mask over its group's channel
/// axis (union or intersection, position by position, of the masks of the members that cover it: the
/// inputs of a concatenation that meets a full-width tensor cover their own slices; depthwise convs are
/// members of their producer's set), then
/// NNI's group rule makes it respect the set's group divisor (not applied to a group whose producers cover
/// different slices of its channels; the shrinker then checks the divisors and names the layer): with D groups of C/D channels, each
/// group may only lose as many channels as the group losing fewest (the later extra ones are kept
/// again), except that whole blocks of C/minGroups channels that are pruned entirely stay pruned.
/// As in NNI, a producer without a mask keeps all its channels (so under union its set keeps all);
/// a depthwise conv without a mask just follows its set.
/// </summary>
public static class MaskConflict
{
    /// <summary>Fixes <paramref name="filterMasks"/> (layer → keep flag per output channel; true keeps).</summary>
    /// <param name="graph">The model's graph.</param>
    /// <param name="filterMasks">Masks of producers and/or depthwise convs; the dictionary is not changed.</param>
    /// <param name="mode">How coupled layers are made to agree.</param>
    /// <exception cref="ArgumentException">A mask names a layer in no dependency set, or has the wrong length.</exception>
    public static MaskFixResult Fix(ModelGraph graph, IDictionary<string, bool[]> filterMasks, ConflictMode mode = ConflictMode.Union)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(filterMasks);
        var dependency = graph.PruningDependency;
        foreach (var (layer, mask) in filterMasks)
        {
            if (!dependency.Sets.Any(s => s.Contains(layer)))
                throw new ArgumentException($"mask for '{layer}': not a producer or depthwise conv of the graph. Closest: " +
                    string.Join(", ", Models.NameSuggestions.Closest(layer, dependency.Sets.SelectMany(s => s))), nameof(filterMasks));
            var channels = graph.Layer(layer).Channels;
            if (mask is null || mask.Length != channels)
                throw new ArgumentException($"mask for '{layer}' has {mask?.Length ?? 0} entries, the layer has {channels} output channels",
                    nameof(filterMasks));
        }

        var fixedMasks = new Dictionary<string, bool[]>();
        var changes = new List<LayerMaskChange>();
        foreach (var set in dependency.Sets)
        {
            var given = set.Where(filterMasks.ContainsKey).ToList();
            if (given.Count == 0) continue;
            var (width, sliced, slices) = Axis(graph, set);
            // A depthwise conv without a mask simply follows its producer; a producer without one keeps all.
            var voters = set.Where(l => filterMasks.ContainsKey(l) || graph.Layer(l).Kind != LayerKind.DepthwiseConv).ToList();
            var merged = Merge(voters, slices, filterMasks, width, mode);
            var reasons = new List<string>();
            if (set.Count > 1) reasons.Add($"coupled with {string.Join(", ", set)} ({mode.ToString().ToLowerInvariant()})");

            long divisor = set.Select(graph.GroupDependency.DivisorOf).Aggregate(1L, Lcm);
            long minGroups = set.Select(l => graph.GroupDependency.MinGroups.GetValueOrDefault(l, 1)).Aggregate(0L, Gcd);
            if (divisor > 1 && !sliced)
            {
                if (width % divisor != 0)
                    throw new ArgumentException($"set {string.Join(", ", set)} has {width} channels, not divisible by its group divisor {divisor}");
                if (ApplyGroupRule(merged, divisor, Math.Max(1, minGroups)))
                    reasons.Add($"group constraint: divisor {divisor}, min groups {Math.Max(1, minGroups)}");
            }
            if (!merged.Contains(true)) reasons.Add("warning: no channel kept");

            foreach (var layer in set)
            {
                var slice = slices[layer];
                var after = merged.AsSpan((int)slice.Offset, (int)slice.Count).ToArray();
                var before = filterMasks.TryGetValue(layer, out var m) ? m : Enumerable.Repeat(true, after.Length).ToArray();
                fixedMasks[layer] = after;
                var restored = Enumerable.Range(0, after.Length).Where(c => !before[c] && after[c]).ToList();
                var removed = Enumerable.Range(0, after.Length).Where(c => before[c] && !after[c]).ToList();
                if (restored.Count > 0 || removed.Count > 0 || !filterMasks.ContainsKey(layer) || !after.Contains(true))
                    changes.Add(new LayerMaskChange(layer, before.Count(k => k), after.Count(k => k), restored, removed,
                        reasons.Count > 0 ? string.Join("; ", reasons) : "no mask given"));
            }
        }
        return new MaskFixResult(fixedMasks, changes);
    }

    /// <summary>
    /// The set's channel axis: its dependency group's (producers on their slices; a depthwise member on the slice of the
    /// producer feeding it), or the layer's own channels for a depthwise conv standing alone.
    /// </summary>
    private static (long Width, bool Sliced, Dictionary<string, ChannelSlice> Slices) Axis(ModelGraph graph, IReadOnlyList<string> set)
    {
        var producer = set.FirstOrDefault(l => graph.Producers.Contains(l));
        if (producer is null)
        {
            long channels = graph.Layer(set[0]).Channels ?? 0;
            return (channels, false, set.ToDictionary(l => l, _ => new ChannelSlice(0, channels)));
        }
        var group = graph.GroupOf(producer);
        var slices = set.ToDictionary(l => l, l => group.Producers.Contains(l)
            ? group.SliceOf(l)
            : group.SliceOf(graph.EdgesTo(l).First(e => group.Producers.Contains(e.Producer)).Producer));
        return (group.Channels, group.IsSliced, slices);
    }

    private static bool[] Merge(IReadOnlyList<string> voters, Dictionary<string, ChannelSlice> slices, IDictionary<string, bool[]> masks,
        long width, ConflictMode mode)
    {
        var merged = new bool[width];
        for (long at = 0; at < width; at++)
        {
            var votes = voters.Where(l => slices[l].Offset <= at && at < slices[l].Offset + slices[l].Count)
                .Select(l => !masks.TryGetValue(l, out var m) || m[at - slices[l].Offset]).ToList();
            merged[at] = votes.Count == 0 || (mode == ConflictMode.Union ? votes.Any(v => v) : votes.All(v => v));
        }
        return merged;
    }

    /// <summary>NNI's GroupMaskConflict rule on one mask; returns true if it kept channels again.</summary>
    private static bool ApplyGroupRule(bool[] keep, long divisor, long minGroups)
    {
        int channels = keep.Length;
        int step = (int)(channels / divisor);
        var prunedPerGroup = Enumerable.Range(0, (int)divisor)
            .Select(g => Enumerable.Range(g * step, step).Where(c => !keep[c]).ToList()).ToList();
        int fewest = prunedPerGroup.Min(p => p.Count);
        var restore = prunedPerGroup.SelectMany(p => p.Skip(fewest)).ToHashSet();

        int block = (int)(channels / minGroups);
        for (int b = 0; b < minGroups; b++)
            if (Enumerable.Range(b * block, block).All(c => !keep[c]))
                restore.ExceptWith(Enumerable.Range(b * block, block));

        foreach (var c in restore) keep[c] = true;
        return restore.Count > 0;
    }

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);

    private static long Lcm(long a, long b) => a / Gcd(a, b) * b;
}
