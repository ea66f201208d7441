using TorchSharp.Modules;
using Trainer.Abstractions.Compression;
using Trainer.Core.Analysis.Sensitivity;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// Keeps the channels of a group whose producer filters score highest, summed over the producers that make each channel,
/// ties broken by index: by default the filters' L1 norm (Li et al. 2017), or another filter score
/// (<see cref="FilterScores"/>: L2, FPGM). The policy scorer's selection and the channel-pruning plugin's L1 baseline.
/// </summary>
public static class GroupChannelSelection
{
    /// <summary>
    /// Flags of the <paramref name="keep"/> channels of <paramref name="group"/> (clamped to [1, channels]) with the largest
    /// filter L1 norm (<see cref="Scores"/>). At least one channel of each of the group's segments is kept
    /// (<see cref="ChannelGroupInfo.Segments"/>) when <paramref name="keep"/> allows, so no producer loses its whole slice.
    /// </summary>
    /// <exception cref="ArgumentException">A producer is not a convolution or Linear of the model, or its output count
    /// differs from its slice of the group.</exception>
    /// <param name="model">The model whose producers are scored.</param>
    /// <param name="group">The group.</param>
    /// <param name="keep">Channels to keep.</param>
    /// <param name="filterScore">Score of each output filter of a weight (<see cref="FilterScores"/>); null: L1.</param>
    public static bool[] Select(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group, int keep, Func<Tensor, double[]>? filterScore = null)
    {
        ArgumentNullException.ThrowIfNull(group);
        return TopK(Scores(model, group, filterScore), Math.Clamp(keep, 1, group.Channels), group.Segments);
    }

    /// <summary>Flags of the <paramref name="keep"/> channels of a group of <paramref name="channels"/> channels, each made
    /// whole by every one of <paramref name="producers"/> in <paramref name="model"/>, with the largest summed filter L1 norm.</summary>
    /// <exception cref="ArgumentException">A producer is not a convolution or Linear of the model, or its output count differs.</exception>
    public static bool[] Select(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> producers, int channels, int keep)
    {
        ArgumentNullException.ThrowIfNull(producers);
        return Select(model, new ChannelGroupInfo("", producers, [], channels, null), keep);
    }

    /// <summary>
    /// Each group channel's summed filter L1 norm: group channel c scores the filters that produce it, every whole-width
    /// producer's filter c and, in a sliced group, filter c − offset of the producer whose slice holds c.
    /// </summary>
    /// <exception cref="ArgumentException">A producer is not a convolution or Linear of the model, or its output count
    /// differs from its slice of the group.</exception>
    public static double[] Scores(nn.Module<Tensor, Tensor> model, ChannelGroupInfo group, Func<Tensor, double[]>? filterScore = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(group);
        var modules = new Dictionary<string, nn.Module>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);
        var norms = new double[group.Channels];
        foreach (var producer in group.Producers)
        {
            var l1 = (modules.TryGetValue(producer, out var module) ? OutputScores(module, filterScore, group.Id) : null)
                     ?? throw new ArgumentException($"producer '{producer}' of group '{group.Id}' is not a convolution or Linear of the model", nameof(group));
            var slice = group.SliceOf(producer);
            if (l1.Length != slice.Count)
                throw new ArgumentException($"producer '{producer}' has {l1.Length} outputs but covers {slice.Count} channels of group '{group.Id}'", nameof(group));
            for (int j = 0; j < l1.Length; j++) norms[slice.Offset + j] += l1[j];
        }
        return norms;
    }

    // The L1 path reads transposed convolutions too; another score needs each output channel's filter as one row.
    private static double[]? OutputScores(nn.Module module, Func<Tensor, double[]>? filterScore, string groupId) => filterScore is null
        ? OutputL1(module)
        : module switch
        {
            ConvolutionTranspose => throw new ArgumentException(
                $"group '{groupId}' has a transposed convolution producer, whose filters only the L1 selection ranks; use Search:Pruner = l1"),
            Convolution conv => filterScore(conv.weight!),
            Linear linear => filterScore(linear.weight!),
            _ => null,
        };

    /// <summary>
    /// The L1 norm of each output channel's filter of a convolution or Linear, in output channel order and double precision:
    /// the sum of |w| over everything that produces the channel (weight dimension 0; dimension 1 of a transposed conv, whose
    /// output channel g·(Cout/groups) + j is column j of the rows of input group g). Null for any other module.
    /// </summary>
    public static double[]? OutputL1(nn.Module module)
    {
        switch (module)
        {
            case ConvolutionTranspose transposed:
            {
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var w = transposed.weight!.detach().abs().to(ScalarType.Float64);
                long inputs = w.shape[0], perGroup = w.shape[1], groups = transposed.groups;
                // [groups, in/groups, out/groups, kk] → summed over the group's inputs and the kernel.
                return w.reshape(groups, inputs / groups, perGroup, -1).sum([1, 3]).reshape(-1).data<double>().ToArray();
            }
            case Convolution conv: return FilterScores.L1(conv.weight!);
            case Linear linear: return FilterScores.L1(linear.weight!);
            default: return null;
        }
    }

    /// <summary>Flags of the <paramref name="keep"/> largest <paramref name="scores"/> (ties broken by index), the best of
    /// each of <paramref name="segments"/> first when <paramref name="keep"/> is at least their number.</summary>
    public static bool[] TopK(IReadOnlyList<double> scores, int keep, IReadOnlyList<ChannelRange>? segments = null)
    {
        ArgumentNullException.ThrowIfNull(scores);
        segments ??= [];
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
