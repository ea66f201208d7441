using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>Keeps the channels whose producer filters have the largest L1 norm, summed over the group's producers
/// (Li et al. 2017; the baseline channel pruning is compared with).</summary>
internal static class L1ChannelSelector
{
    /// <summary>Flags of the <paramref name="keep"/> channels of <paramref name="group"/> with the largest filter L1 norm
    /// (ties broken by index).</summary>
    public static bool[] Select(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group, int keep)
    {
        var norms = new double[group.Channels];
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            foreach (var producer in group.Producers)
            {
                var layer = WeightLayer.Find(model, producer)
                            ?? throw new InvalidOperationException($"Producer {producer} of group {group.Id} is not a Conv2d or Linear of the model.");
                var l1 = layer.Matrix().abs().sum(1).to(ScalarType.Float64).data<double>().ToArray();
                if (l1.Length != norms.Length)
                    throw new InvalidOperationException($"Producer {producer} has {l1.Length} outputs but group {group.Id} has {norms.Length} channels.");
                for (int c = 0; c < norms.Length; c++) norms[c] += l1[c];
            }
        }
        return TopK(norms, keep);
    }

    /// <summary>Flags of the <paramref name="keep"/> largest scores.</summary>
    public static bool[] TopK(IReadOnlyList<double> scores, int keep)
    {
        var flags = new bool[scores.Count];
        foreach (var i in Enumerable.Range(0, scores.Count).OrderByDescending(i => scores[i]).ThenBy(i => i).Take(keep))
            flags[i] = true;
        return flags;
    }
}
