using System.Numerics;

namespace Trainer.Core.Graph;

/// <summary>
/// NNI's GroupDependency: for every Conv2d (and Conv1d/3d) and GroupNorm layer (execution order), the number its
/// output channel count must stay divisible by. A grouped conv (1 &lt; groups, groups ≠ out_channels)
/// contributes its groups to itself and to every producer whose channels reach its input (and to the
/// depthwise convs that carry them); GroupNorm contributes num_groups the same way; a depthwise conv
/// contributes 1. A layer's divisor is the LCM of its contributions; its minimum group count is the
/// smallest contribution when that divides all the others, else 1 (prune per group of that size).
/// </summary>
public sealed class GroupDependency
{
    private readonly Dictionary<string, long> divisors;
    private readonly Dictionary<string, long> minGroups;

    private GroupDependency(IReadOnlyList<string> layers, Dictionary<string, long> divisors, Dictionary<string, long> minGroups)
    {
        Layers = layers;
        this.divisors = divisors;
        this.minGroups = minGroups;
    }

    /// <summary>The layers with an entry, in NNI's order (first time each is met).</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>Layer → the number its output channel count must stay divisible by (NNI's dependency).</summary>
    public IReadOnlyDictionary<string, long> Divisors => divisors;

    /// <summary>Layer → the group size pruning must be balanced over (NNI's min_groups).</summary>
    public IReadOnlyDictionary<string, long> MinGroups => minGroups;

    /// <summary>The divisor of <paramref name="layer"/>, 1 when it has no entry.</summary>
    public long DivisorOf(string layer) => divisors.GetValueOrDefault(layer, 1);

    /// <summary>NNI's GroupDependency.export text: header "Conv Layer Name,Group", one row per layer, "\r\n" line ends.</summary>
    public string ToCsv() =>
        IO.PythonCsv.Write(new[] { new[] { "Conv Layer Name", "Group" } }
            .Concat(Layers.Select(l => new[] { l, divisors[l].ToString(System.Globalization.CultureInfo.InvariantCulture) })));

    internal static GroupDependency From(ModelGraph graph)
    {
        var order = new List<string>();
        var contributions = new Dictionary<string, List<long>>();
        void Add(string layer, long g)
        {
            if (!contributions.TryGetValue(layer, out var list)) { contributions[layer] = list = []; order.Add(layer); }
            list.Add(g);
        }

        foreach (var layer in graph.Layers)
        {
            long g;
            if (layer.Kind is LayerKind.Conv or LayerKind.DepthwiseConv or LayerKind.GroupedConv)
                g = layer.OutChannels == layer.Groups ? 1 : layer.Groups ?? 1;
            else if (layer.Kind == LayerKind.GroupNorm) g = layer.NumGroups ?? 1;
            else continue;
            Add(layer.Name, g);
            if (g <= 1) continue;
            foreach (var edge in graph.EdgesTo(layer.Name).Where(e => e.Role != EdgeRole.Unsupported))
            {
                Add(edge.Producer, g);
                foreach (var follower in graph.FollowersOf(edge.Producer))
                    if (graph.Layer(follower).Kind == LayerKind.DepthwiseConv) Add(follower, g);
            }
        }

        var divisors = new Dictionary<string, long>();
        var minGroups = new Dictionary<string, long>();
        foreach (var (layer, list) in contributions)
        {
            divisors[layer] = list.Aggregate(1L, Lcm);
            long min = list.Min();
            minGroups[layer] = list.Aggregate(list[0], (a, b) => (long)BigInteger.GreatestCommonDivisor(a, b)) == min ? min : 1;
        }
        return new GroupDependency(order, divisors, minGroups);
    }

    private static long Lcm(long a, long b) => a / (long)BigInteger.GreatestCommonDivisor(a, b) * b;
}
