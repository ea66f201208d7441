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
                        $"channels of producer '{trace.Producer}' reach '{target}' ({layer.Type}), a layer the graph cannot shrink",
                        trace.Producer));
                edges.Add(new ChannelEdge(trace.Producer, target, mapping, role, trace.Channels, width));
            }
        }
        return edges;
    }

    /// <summary>How a layer of <paramref name="kind"/> treats channels that reach it.</summary>
    public static EdgeRole RoleOf(LayerKind kind) => kind switch
    {
        LayerKind.Conv or LayerKind.GroupedConv or LayerKind.Linear => EdgeRole.Consumer,
        LayerKind.DepthwiseConv or LayerKind.Norm or LayerKind.GroupNorm => EdgeRole.Follower,
        _ => EdgeRole.Unsupported,
    };

    /// <summary>Dependency groups over <paramref name="producers"/> (execution order); appends overlap problems first.</summary>
    public static List<DependencyGroup> Groups(IReadOnlyList<LayerInfo> producers, IReadOnlyDictionary<string, LayerInfo> layers,
        IReadOnlyList<ChannelEdge> edges, List<GraphProblem> problems)
    {
        var index = producers.Select((p, i) => (p.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var sets = new UnionFind(producers.Count);
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
                    sets.Union(index[x.Producer], index[y.Producer]);
                    if (x.Mapping != y.Mapping || x.ProducerChannels != y.ProducerChannels)
                        problems.Add(new GraphProblem(GraphProblemKind.MappingOverlap, atTarget.Key,
                            $"producers '{x.Producer}' ({x.Mapping}, {x.ProducerChannels} channels) and '{y.Producer}' " +
                            $"({y.Mapping}, {y.ProducerChannels} channels) reach overlapping inputs of '{atTarget.Key}' differently",
                            x.Producer));
                }
        }

        var groups = new List<DependencyGroup>();
        foreach (var members in producers.GroupBy(p => sets.Find(index[p.Name])))
        {
            var names = members.Select(p => p.Name).ToList();
            var nameSet = names.ToHashSet();
            var mine = edges.Where(e => nameSet.Contains(e.Producer)).ToList();
            var followers = mine.Where(e => e.Role == EdgeRole.Follower).Select(e => e.Target).Distinct()
                .OrderBy(t => layers[t].Index).ToList();
            var touched = mine.Select(e => e.Target).Concat(names).ToHashSet();
            var groupProblems = problems.Where(p => touched.Contains(p.Layer) || (p.Producer is { } pr && nameSet.Contains(pr)))
                .ToList();
            groups.Add(new DependencyGroup(groups.Count, names, followers, members.First().Channels ?? 0, groupProblems));
        }
        return groups;
    }
}
