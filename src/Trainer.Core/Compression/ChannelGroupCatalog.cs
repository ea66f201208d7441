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
            var consumers = producers.SelectMany(graph.ConsumersOf)
                .Select(e => new ChannelConsumer(e.Target, (int)e.Mapping.Offset, (int)e.Mapping.BlockSize))
                .Distinct().OrderBy(c => graph.Layer(c.Layer).Index).ToList();
            result.Add((new ChannelGroupInfo(producers[0], producers, consumers, (int)group.Channels, BlockedBy(graph, group, options)), group));
        }
        return result;
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
        long divisor = CountMasks.Divisor(graph, group);
        if (divisor >= group.Channels)
            return $"grouped convs or GroupNorm need its {group.Channels} channels in multiples of {divisor}";
        return null;
    }

    private static int FirstIndex(ModelGraph graph, DependencyGroup group) => group.Producers.Min(p => graph.Layer(p).Index);
}
