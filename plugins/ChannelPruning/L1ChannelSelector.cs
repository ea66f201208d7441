using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>Keeps the channels whose producer filters have the largest L1 norm, summed over the producers that make each
/// channel (Li et al. 2017; the baseline channel pruning is compared with).</summary>
internal static class L1ChannelSelector
{
    /// <summary>
    /// Flags of the <paramref name="keep"/> channels of <paramref name="group"/> with the largest filter L1 norm (ties broken
    /// by index). Group channel c scores the L1 norms of the filters that produce it: every whole-width producer's filter c
    /// and, in a sliced group, the filter c − offset of the producer whose slice holds c. At least one channel of each of
    /// the group's segments is kept (<see cref="ChannelGroupInfo.Segments"/>), so no producer loses its whole slice.
    /// </summary>
    public static bool[] Select(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group, int keep) =>
        TopK(Scores(model, group), keep, group.Segments);

    /// <summary>Each group channel's summed filter L1 norm (see <see cref="Select"/>).</summary>
    public static double[] Scores(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group)
    {
        var norms = new double[group.Channels];
        foreach (var producer in group.Producers)
        {
            var layer = WeightLayer.Find(model, producer)
                        ?? throw new InvalidOperationException($"Producer {producer} of group {group.Id} is not a convolution or Linear of the model.");
            var slice = group.SliceOf(producer);
            var l1 = layer.OutputL1();
            if (l1.Length != slice.Count)
                throw new InvalidOperationException(
                    $"Producer {producer} has {l1.Length} outputs but covers {slice.Count} channels of group {group.Id}.");
            for (int j = 0; j < l1.Length; j++) norms[slice.Offset + j] += l1[j];
        }
        return norms;
    }

    /// <summary>Flags of the <paramref name="keep"/> largest scores.</summary>
    public static bool[] TopK(IReadOnlyList<double> scores, int keep) => TopK(scores, keep, []);

    /// <summary>Flags of the <paramref name="keep"/> largest scores, the best of each of <paramref name="segments"/> first
    /// (when <paramref name="keep"/> is at least their number).</summary>
    public static bool[] TopK(IReadOnlyList<double> scores, int keep, IReadOnlyList<ChannelRange> segments)
    {
        var flags = new bool[scores.Count];
        int Best(IEnumerable<int> channels) => channels.OrderByDescending(i => scores[i]).ThenBy(i => i).First();
        int kept = 0;
        if (segments.Count > 1 && keep >= segments.Count)
            foreach (var segment in segments)
            {
                flags[Best(Enumerable.Range(segment.Offset, segment.Count))] = true;
                kept++;
            }
        foreach (var i in Enumerable.Range(0, scores.Count).Where(i => !flags[i]).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(keep - kept))
            flags[i] = true;
        return flags;
    }
}
