using Trainer.Abstractions.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;

namespace Trainer.Core.Compression;

/// <summary>Describes a <see cref="ModelGraph"/>'s dependency groups in the plugin contract's terms.</summary>
internal static class ChannelGroupCatalog
{
    /// <summary>One entry per group, in execution order of its first producer, keyed by that producer's path.</summary>
    public static IReadOnlyList<(ChannelGroupInfo Info, DependencyGroup Group)> Describe(ModelGraph graph, ShrinkOptions options)
    {
        var result = new List<(ChannelGroupInfo, DependencyGroup)>();
        foreach (var group in graph.Groups.OrderBy(g => FirstIndex(graph, g)))
        {
            var producers = group.Producers.OrderBy(p => graph.Layer(p).Index).ToList();
            var (consumers, sliceConsumers) = Consumers(graph, group);
            var slices = group.Producers.Where(p => group.SliceOf(p).Count != group.Channels)
                .ToDictionary(p => p, p => new ChannelRange((int)group.SliceOf(p).Offset, (int)group.SliceOf(p).Count));
            var info = new ChannelGroupInfo(producers[0], producers, consumers, (int)group.Channels, BlockedBy(graph, group, options))
            {
                ProducerSlices = slices,
                SliceConsumers = sliceConsumers,
            };
            if (info.IsPrunable && info.MinKept >= info.Channels)
                info = info with { BlockedBy = $"each of its {info.MinKept} slices has a single channel, which must stay" };
            result.Add((info, group));
        }
        return result;
    }

    /// <summary>
    /// The layers that read the group's whole channel axis, with where group channel c lands: the offset of a producer's
    /// edge less its slice's offset (in blocks). A layer that reads only some producers' slices (e.g. one input of a
    /// concatenation that also meets a residual), or reads them at places that do not line up, is a slice consumer: one
    /// entry per slice it reads, at the place its first channel lands.
    /// </summary>
    private static (List<ChannelConsumer> Whole, List<ChannelConsumer> Slices) Consumers(ModelGraph graph, DependencyGroup group)
    {
        var result = new List<ChannelConsumer>();
        var partial = new List<ChannelConsumer>();
        foreach (var atTarget in group.Producers.SelectMany(graph.ConsumersOf).GroupBy(e => e.Target))
        {
            var placed = atTarget.Select(e => (Offset: e.Mapping.Offset - group.SliceOf(e.Producer).Offset * e.Mapping.BlockSize,
                e.Mapping.BlockSize, Slice: group.SliceOf(e.Producer))).Distinct().ToList();
            var covered = new bool[group.Channels];
            foreach (var p in placed)
                for (long c = p.Slice.Offset; c < p.Slice.Offset + p.Slice.Count; c++) covered[c] = true;
            if (placed.Select(p => (p.Offset, p.BlockSize)).Distinct().Count() == 1 && !covered.Contains(false) && placed[0].Offset >= 0)
            {
                result.Add(new ChannelConsumer(atTarget.Key, (int)placed[0].Offset, (int)placed[0].BlockSize));
                continue;
            }
            foreach (var edge in atTarget.Select(e => (e.Mapping, Slice: group.SliceOf(e.Producer))).Distinct())
                partial.Add(new ChannelConsumer(atTarget.Key, (int)edge.Mapping.Offset, (int)edge.Mapping.BlockSize)
                {
                    Reads = new ChannelRange((int)edge.Slice.Offset, (int)edge.Slice.Count),
                });
        }
        int Order(ChannelConsumer c) => graph.Layer(c.Layer).Index;
        return (result.OrderBy(Order).ToList(), partial.OrderBy(Order).ThenBy(c => c.Reads!.Value.Offset).ToList());
    }

    /// <summary>Why <paramref name="group"/> cannot be shrunk, or null.</summary>
    private static string? BlockedBy(ModelGraph graph, DependencyGroup group, ShrinkOptions options)
    {
        if (group.Problems.Count > 0)
            return "the graph could not analyse it: " + string.Join("; ", group.Problems.Select(p => p.Message));
        if (!options.AllowOutputLayer && group.Producers.FirstOrDefault(p => graph.EdgesFrom(p).Count == 0) is { } output)
            return $"'{output}' produces the model's output (ShrinkOptions.AllowOutputLayer allows shrinking it)";
        if (group.Channels <= 1)
            return "it has a single channel, which must stay";
        // A grouped transposed conv is a graph problem (caught above); this guards a producer kind the shrinker has no pruner for.
        if (group.Producers.FirstOrDefault(p => !graph.Layer(p).IsProducerKind) is { } other)
            return $"its producer '{other}' is a {graph.Layer(other).Type}, which the shrinker cannot cut";
        long divisor = CountMasks.Divisor(graph, group);
        if (divisor >= group.Channels)
            return $"grouped convs or GroupNorm need its {group.Channels} channels in multiples of {divisor}";
        return null;
    }

    private static int FirstIndex(ModelGraph graph, DependencyGroup group) => group.Producers.Min(p => graph.Layer(p).Index);
}
