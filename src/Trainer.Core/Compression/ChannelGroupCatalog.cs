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
            var consumers = Consumers(graph, group);
            result.Add((new ChannelGroupInfo(producers[0], producers, consumers, (int)group.Channels, BlockedBy(graph, group, options)), group));
        }
        return result;
    }

    /// <summary>
    /// The Conv/Linear layers that read the group's whole channel axis, with where group channel c lands: the offset of a
    /// producer's edge less its slice's offset (in blocks). A consumer that reads only some producers' slices (e.g. one
    /// input of a concatenation that also meets a residual) is not listed: the contract describes whole-axis consumers.
    /// </summary>
    private static List<ChannelConsumer> Consumers(ModelGraph graph, DependencyGroup group)
    {
        var result = new List<ChannelConsumer>();
        foreach (var atTarget in group.Producers.SelectMany(graph.ConsumersOf).GroupBy(e => e.Target))
        {
            var placed = atTarget.Select(e => (Offset: e.Mapping.Offset - group.SliceOf(e.Producer).Offset * e.Mapping.BlockSize,
                e.Mapping.BlockSize, Slice: group.SliceOf(e.Producer))).Distinct().ToList();
            if (placed.Select(p => (p.Offset, p.BlockSize)).Distinct().Count() != 1) continue;
            var covered = new bool[group.Channels];
            foreach (var p in placed)
                for (long c = p.Slice.Offset; c < p.Slice.Offset + p.Slice.Count; c++) covered[c] = true;
            if (covered.Contains(false) || placed[0].Offset < 0) continue;
            result.Add(new ChannelConsumer(atTarget.Key, (int)placed[0].Offset, (int)placed[0].BlockSize));
        }
        return result.OrderBy(c => graph.Layer(c.Layer).Index).ToList();
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
        // The compressor contract describes whole-width Conv2d/Linear producers; ChannelShrinker handles the rest directly.
        if (group.Producers.FirstOrDefault(p => graph.Layer(p).Type is not ("Conv2d" or "Linear")) is { } other)
            return $"its producer '{other}' is a {graph.Layer(other).Type}; compressors see Conv2d and Linear producers only " +
                   "(ChannelShrinker shrinks it directly)";
        if (group.IsSliced)
            return $"its producers cover different slices of its {group.Channels} channels (a concatenation meets a full-width tensor); " +
                   "compressors see whole-width groups only (ChannelShrinker shrinks it directly, each producer by its slice)";
        long divisor = CountMasks.Divisor(graph, group);
        if (divisor >= group.Channels)
            return $"grouped convs or GroupNorm need its {group.Channels} channels in multiples of {divisor}";
        return null;
    }

    private static int FirstIndex(ModelGraph graph, DependencyGroup group) => group.Producers.Min(p => graph.Layer(p).Index);
}
