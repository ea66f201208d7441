namespace Trainer.Core.Graph;

/// <summary>What one producer's marker pass saw: for each target, the positions NaN reached and the input width.</summary>
internal sealed record ProducerTrace(string Producer, long Channels, IReadOnlyList<(string Target, long[] Positions, long Width)> Reached);

/// <summary>
/// Turns marker traces into edges (reading each mapping), problems (layouts that fit no mapping,
/// unsupported layers, overlapping mappings) and dependency groups (producers whose channels reach
/// the same input positions of some layer, joined by union-find).
/// </summary>
internal static class GraphAssembler
{
    /// <summary>Edges of all traces, in producer then target execution order; appends problems.</summary>
    public static List<ChannelEdge> Edges(IReadOnlyDictionary<string, LayerInfo> layers, IEnumerable<ProducerTrace> traces,
        List<GraphProblem> problems, Func<ProducerTrace, string?> diagnose)
    {
        var edges = new List<ChannelEdge>();
        foreach (var trace in traces)
        {
            string? culprit = null;
            bool diagnosed = false;
            foreach (var (target, positions, width) in trace.Reached.OrderBy(r => layers[r.Target].Index))
            {
                var layer = layers[target];
                if (!MarkerPattern.TryFit(positions, trace.Channels, width, out var mapping))
                {
                    if (!diagnosed) { culprit = diagnose(trace); diagnosed = true; }
                    problems.Add(new GraphProblem(GraphProblemKind.UnsupportedMapping, target,
                        $"channels {string.Join(",", MarkerPattern.Channels(trace.Channels))} of producer '{trace.Producer}' " +
                        $"({trace.Channels} channels) reach '{target}' ({layer.Type}, input width {width}) at {Shapes.Ranges(positions)}, " +
                        $"which is neither identity, offset nor block" + (culprit is null ? "" : $"; first seen where {culprit}"),
                        trace.Producer));
                    continue;
                }
                var role = RoleOf(layer.Kind);
                if (role == EdgeRole.Unsupported)
                    problems.Add(new GraphProblem(GraphProblemKind.UnsupportedLayer, target,
                        $"channels of producer '{trace.Producer}' reach '{target}' ({layer.Type}), which the shrinker cannot handle: " +
                        UnsupportedReason(layer), trace.Producer));
                edges.Add(new ChannelEdge(trace.Producer, target, mapping, role, trace.Channels, width));
            }
        }
        return edges;
    }

    /// <summary>How a layer of <paramref name="kind"/> treats channels that reach it.</summary>
    public static EdgeRole RoleOf(LayerKind kind) => kind switch
    {
        LayerKind.Conv or LayerKind.GroupedConv or LayerKind.TransposedConv or LayerKind.Linear => EdgeRole.Consumer,
        LayerKind.DepthwiseConv or LayerKind.Norm or LayerKind.GroupNorm or LayerKind.LayerNorm => EdgeRole.Follower,
        _ => EdgeRole.Unsupported,
    };

    /// <summary>Why a layer that receives channels cannot be shrunk.</summary>
    public static string UnsupportedReason(LayerInfo layer) => layer.Kind switch
    {
        LayerKind.OtherConv => $"a transposed convolution with {layer.Groups} groups (only groups = 1 is supported)",
        LayerKind.Unknown => $"{layer.Type} has parameters of its own and no rule says which of them follow the channels " +
                             "(supported: Conv1d/2d/3d, ConvTranspose1d/2d/3d, Linear, BatchNorm, InstanceNorm, GroupNorm, LayerNorm)",
        _ => $"{layer.Kind} layers take no channel masks",
    };

    /// <summary>
    /// Dependency groups over <paramref name="producers"/> (execution order); appends overlap problems first. Two producers
    /// whose channels reach the same input positions of a layer are tied channel by channel at those positions: with
    /// mappings of one block size s at offsets ox and oy, channel c of x is channel c + (ox - oy)/s of y. Each group gets
    /// one channel axis on which every producer covers a slice (a concatenation that meets a full-width tensor ties each
    /// of its inputs to its own slice of the other operand). Different block sizes, misaligned offsets, or a channel tied
    /// to two positions are problems.
    /// </summary>
    public static List<DependencyGroup> Groups(IReadOnlyList<LayerInfo> producers, IReadOnlyDictionary<string, LayerInfo> layers,
        IReadOnlyList<ChannelEdge> edges, List<GraphProblem> problems)
    {
        var index = producers.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var sets = new OffsetUnionFind(producers.Count);
        foreach (var atTarget in edges.GroupBy(e => e.Target))
        {
            var list = atTarget.ToList();
            for (int a = 0; a < list.Count; a++)
                for (int b = a + 1; b < list.Count; b++)
                {
                    var (x, y) = (list[a], list[b]);
                    var (xs, xe) = x.Mapping.Span(x.ProducerChannels);
                    var (ys, ye) = y.Mapping.Span(y.ProducerChannels);
                    if (xs >= ye || ys >= xe) continue; // disjoint: concatenation, no coupling
                    long size = x.Mapping.BlockSize, delta = x.Mapping.Offset - y.Mapping.Offset;
                    if (size == y.Mapping.BlockSize && delta % size == 0)
                    {
                        if (sets.Union(index[x.Producer], index[y.Producer], delta / size)) continue;
                        problems.Add(new GraphProblem(GraphProblemKind.MappingOverlap, atTarget.Key,
                            $"producers '{x.Producer}' ({x.Mapping}) and '{y.Producer}' ({y.Mapping}) meet at '{atTarget.Key}' with a " +
                            "channel shift that contradicts how they meet elsewhere, so one channel would be tied to two", x.Producer));
                        continue;
                    }
                    sets.Union(index[x.Producer], index[y.Producer], 0);
                    problems.Add(new GraphProblem(GraphProblemKind.MappingOverlap, atTarget.Key,
                        $"producers '{x.Producer}' ({x.Mapping}, {x.ProducerChannels} channels) and '{y.Producer}' " +
                        $"({y.Mapping}, {y.ProducerChannels} channels) reach overlapping inputs of '{atTarget.Key}' with different " +
                        "block sizes or misaligned blocks, so their channels cannot be tied one to one", x.Producer));
                }
        }

        var groups = new List<DependencyGroup>();
        foreach (var members in producers.GroupBy(p => sets.Find(index[p.Name]).Root))
        {
            var names = members.Select(p => p.Name).ToList();
            var offsets = members.ToDictionary(p => p.Name, p => sets.Find(index[p.Name]).Offset);
            long first = offsets.Values.Min();
            var slices = members.ToDictionary(p => p.Name, p => new ChannelSlice(offsets[p.Name] - first, p.Channels ?? 0));
            long channels = slices.Values.Max(s => s.Offset + s.Count);
            var nameSet = names.ToHashSet();
            var mine = edges.Where(e => nameSet.Contains(e.Producer)).ToList();
            var followers = mine.Where(e => e.Role == EdgeRole.Follower).Select(e => e.Target).Distinct()
                .OrderBy(t => layers[t].Index).ToList();
            var touched = mine.Select(e => e.Target).Concat(names).ToHashSet();
            var groupProblems = problems.Where(p => touched.Contains(p.Layer) || (p.Producer is { } pr && nameSet.Contains(pr)))
                .ToList();
            bool sliced = slices.Values.Any(s => s.Count != channels);
            groups.Add(new DependencyGroup(groups.Count, names, followers, channels, groupProblems, sliced ? slices : null));
        }
        return groups;
    }
}
