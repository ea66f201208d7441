namespace Trainer.Core.Graph;

/// <summary>
/// Sets of layers whose output channels must be pruned together: every producer (Conv, Linear) and every depthwise conv
/// is in exactly one set, sets are ordered by their first layer in execution order and layers within a set by execution
/// order. <see cref="From"/> gives NNI v2.10's sets (its ChannelDependency): a depthwise conv is a layer of its own, and
/// where a join (a residual add, a squeeze-and-excitation product) couples channels that came through a depthwise conv,
/// the depthwise conv is in the set instead of the producer behind it (GroupDependency ties that producer to it).
/// <see cref="ForPruning"/> gives the physical coupling the shrinker needs: a depthwise conv carrying one producer's
/// channels is in that producer's set.
/// </summary>
public sealed class ChannelDependency
{
    private readonly Dictionary<string, IReadOnlyList<string>> setOf = [];

    private ChannelDependency(IReadOnlyList<IReadOnlyList<string>> sets)
    {
        Sets = sets;
        foreach (var set in sets)
            foreach (var layer in set) setOf[layer] = set;
    }

    /// <summary>The sets, in NNI's order.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Sets { get; }

    /// <summary>The set containing <paramref name="layer"/>.</summary>
    /// <exception cref="KeyNotFoundException">The layer is in no set.</exception>
    public IReadOnlyList<string> SetOf(string layer) =>
        setOf.TryGetValue(layer, out var set) ? set : throw new KeyNotFoundException($"'{layer}' is in no channel dependency set");

    /// <summary>
    /// The sets as NNI's ChannelDependency.export writes them: header "Dependency Set,Layers", then
    /// "Set 1,a,b,..." per set, rows ended by "\r\n" like Python's csv.writer.
    /// </summary>
    public string ToCsv() =>
        IO.PythonCsv.Write(new[] { new[] { "Dependency Set", "Layers" } }
            .Concat(Sets.Select((set, i) => new[] { $"Set {i + 1}" }.Concat(set).ToArray())));

    /// <summary>NNI's sets: the producers each join couples, a depthwise conv standing in for the producer whose channels
    /// it carries to the join.</summary>
    internal static ChannelDependency From(ModelGraph graph)
    {
        var sets = new List<List<string>>();
        var placed = new HashSet<string>();
        foreach (var group in graph.Groups)
        {
            var members = group.Producers.ToList();
            if (members.Count > 1)
                for (int i = 0; i < members.Count; i++)
                    members[i] = LastDepthwiseOf(graph, group, members[i]) ?? members[i];
            placed.UnionWith(members);
            sets.Add(members);
        }
        // A producer a depthwise conv stands in for, and every other depthwise conv, is a set of its own.
        var producers = graph.Producers.ToHashSet();
        foreach (var layer in graph.Layers)
            if ((producers.Contains(layer.Name) || (layer.Kind == LayerKind.DepthwiseConv && layer.CallCount == 1)) && placed.Add(layer.Name))
                sets.Add([layer.Name]);
        return Ordered(graph, sets);
    }

    /// <summary>The physical sets: a depthwise conv that carries one producer's channels is in that producer's set.</summary>
    internal static ChannelDependency ForPruning(ModelGraph graph)
    {
        var sets = new List<List<string>>();
        var placed = new HashSet<string>();
        foreach (var group in graph.Groups)
        {
            var members = group.Producers.ToList();
            members.AddRange(group.Followers.Where(f => CarriesOnly(graph, group, f)));
            placed.UnionWith(members);
            sets.Add(members);
        }
        foreach (var layer in graph.Layers)
            if (layer.Kind == LayerKind.DepthwiseConv && layer.CallCount == 1 && !placed.Contains(layer.Name))
                sets.Add([layer.Name]);
        return Ordered(graph, sets);
    }

    // A depthwise conv called once whose input is exactly the channels of the group's producers, 1:1.
    private static bool CarriesOnly(ModelGraph graph, DependencyGroup group, string follower)
    {
        var layer = graph.Layer(follower);
        if (layer.Kind != LayerKind.DepthwiseConv || layer.CallCount > 1) return false;
        return graph.EdgesTo(follower).All(e => e.Mapping.Kind == MappingKind.Identity && e.TargetWidth == e.ProducerChannels
                                                && group.Producers.Contains(e.Producer));
    }

    // The last depthwise conv (in execution order) that carries only this producer's channels.
    private static string? LastDepthwiseOf(ModelGraph graph, DependencyGroup group, string producer) =>
        group.Followers.Where(f => CarriesOnly(graph, group, f) && graph.EdgesTo(f).All(e => e.Producer == producer))
            .OrderBy(f => graph.Layer(f).Index).LastOrDefault();

    private static ChannelDependency Ordered(ModelGraph graph, List<List<string>> sets) =>
        new(sets.Select(s => s.OrderBy(m => graph.Layer(m).Index).ToList()).OrderBy(s => graph.Layer(s[0]).Index)
            .Select(s => (IReadOnlyList<string>)s).ToList());
}
