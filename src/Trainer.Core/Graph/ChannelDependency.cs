namespace Trainer.Core.Graph;

/// <summary>
/// Sets of layers whose output channels must be pruned together, as NNI's ChannelDependency gives
/// them: every producer (Conv2d, Linear) is in exactly one set, sets are ordered by their first layer
/// in execution order and layers within a set by execution order. Unlike NNI, a depthwise conv that
/// carries one producer's channels is in that producer's set (its output channels are the
/// producer's), not a set of its own; a depthwise conv fed otherwise stands alone.
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

    internal static ChannelDependency From(ModelGraph graph)
    {
        var sets = new List<List<string>>();
        var placed = new HashSet<string>();
        foreach (var group in graph.Groups)
        {
            var members = group.Producers.ToList();
            foreach (var follower in group.Followers)
            {
                var layer = graph.Layer(follower);
                if (layer.Kind != LayerKind.DepthwiseConv || layer.CallCount > 1) continue;
                var incoming = graph.EdgesTo(follower);
                if (incoming.All(e => e.Mapping.Kind == MappingKind.Identity && e.TargetWidth == e.ProducerChannels
                                      && group.Producers.Contains(e.Producer)))
                    members.Add(follower);
            }
            placed.UnionWith(members);
            sets.Add(members.OrderBy(m => graph.Layer(m).Index).ToList());
        }
        foreach (var layer in graph.Layers)
            if (layer.Kind == LayerKind.DepthwiseConv && layer.CallCount == 1 && !placed.Contains(layer.Name))
                sets.Add([layer.Name]);
        return new ChannelDependency(sets.OrderBy(s => graph.Layer(s[0]).Index).Select(s => (IReadOnlyList<string>)s).ToList());
    }
}
