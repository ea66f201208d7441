using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;

namespace Trainer.Core.Latency;

/// <summary>
/// A dependency group whose width an allocator may choose, with the kept counts it may take.
/// </summary>
/// <param name="Id">The group's id as the host and compressors know it: its first producer's path
/// (<c>ChannelGroupInfo.Id</c> of <c>IModelEditor</c>).</param>
/// <param name="Producers">The group's producers, in execution order.</param>
/// <param name="Channels">The group's channel count now.</param>
public sealed record AllocatableGroup(string Id, IReadOnlyList<string> Producers, int Channels)
{
    /// <summary>
    /// The groups of <paramref name="graph"/> that can be narrowed by plain channel selection: no graph problem, no producer
    /// that gives the model's output, only Conv2d (groups = 1) and Linear producers, no slices, and no grouped conv or GroupNorm
    /// divisor. Other groups keep their width.
    /// </summary>
    public static IReadOnlyList<AllocatableGroup> Of(ModelGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var result = new List<AllocatableGroup>();
        // The groups the model editor may shrink (one rule for both), narrowed to what the allocators' bilinear MACs
        // model covers: plain Conv2d/Linear producers, no grouped-conv or GroupNorm divisor.
        foreach (var (info, group) in ChannelGroupCatalog.Describe(graph, new ShrinkOptions()))
        {
            if (!info.IsPrunable) continue;
            if (group.Producers.Any(p => graph.Layer(p) is not ({ Kind: LayerKind.Conv, Type: "Conv2d" } or { Kind: LayerKind.Linear })))
                continue;
            if (CountMasks.Divisor(graph, group) > 1) continue;
            // Its producers' MACs depend on how the kept channels fall across the slices, which one width does not say.
            if (group.IsSliced) continue;
            result.Add(new AllocatableGroup(info.Id, info.Producers, info.Channels));
        }
        return result;
    }

    /// <summary>
    /// The kept counts this group may take, ascending: every multiple of <paramref name="roundTo"/> from the rounded
    /// <paramref name="floor"/>·Channels up, and Channels itself.
    /// </summary>
    /// <param name="floor">Smallest kept fraction, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple (1 = any count).</param>
    public IReadOnlyList<int> Options(double floor, int roundTo)
    {
        int lowest = ChannelRounding.RoundKeptCount(Channels, (int)Math.Ceiling(floor * Channels - 1e-9), roundTo);
        var options = new SortedSet<int> { Channels };
        for (int k = lowest; k < Channels; k += roundTo) options.Add(k);
        return [.. options];
    }
}
