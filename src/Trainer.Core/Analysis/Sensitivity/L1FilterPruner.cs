using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Prunes the output filters whose weights have the smallest L1 norm (Li et al., "Pruning Filters for
/// Efficient ConvNets"), as NNI's L1FilterPruner does: a filter's score is the sum of the absolute
/// values of its weight slice (the bias is not scored).
/// </summary>
/// <remarks>
/// <para>The number of filters pruned is NNI's <c>int(num_filters * sparsity)</c>: the double product truncated
/// towards zero, so 10 filters at 0.25 prune 2, and 100 filters at 0.29 prune 28 (100 * 0.29 is
/// 28.999999999999996 in floating point). Like NNI, a layer with fewer than 2 filters is never pruned.</para>
/// <para>Deviation from NNI, on purpose: NNI prunes every filter whose score is &lt;= the k-th smallest
/// score, so ties at the threshold can prune more than k filters. Here exactly k filters are pruned and
/// ties are broken by index: of two filters with equal score the one with the lower index is kept.</para>
/// </remarks>
public sealed class L1FilterPruner : IFilterPruner
{
    /// <inheritdoc />
    public bool[] SelectFiltersToPrune(nn.Module<Tensor, Tensor> layer, double sparsity)
    {
        CheckSparsity(sparsity);
        var weight = FilterMasking.WeightOf(layer);
        var scores = L1Scores(weight);
        var prune = new bool[scores.Length];
        var count = PruneCount(scores.Length, sparsity);
        if (count == 0) return prune;
        // Stable order: largest score first, lower index first among equals; prune the tail.
        var ranked = Enumerable.Range(0, scores.Length)
            .OrderByDescending(i => scores[i])
            .ThenBy(i => i)
            .ToArray();
        foreach (var i in ranked[^count..]) prune[i] = true;
        return prune;
    }

    /// <summary>
    /// Number of filters NNI's filter pruners remove from a layer of <paramref name="filters"/> output
    /// channels at <paramref name="sparsity"/>: <c>int(filters * sparsity)</c>, or 0 when the layer has
    /// fewer than 2 filters.
    /// </summary>
    public static int PruneCount(long filters, double sparsity)
    {
        CheckSparsity(sparsity);
        if (filters < 2) return 0;
        return (int)Math.Truncate(filters * sparsity);
    }

    /// <summary>L1 norm of each output filter (row of dimension 0) of <paramref name="weight"/>, in double precision.</summary>
    public static double[] L1Scores(Tensor weight) => FilterScores.L1(weight);

    internal static void CheckSparsity(double sparsity)
    {
        if (!(sparsity > 0 && sparsity < 1))
            throw new ArgumentOutOfRangeException(nameof(sparsity), sparsity, "Sparsity must be strictly between 0 and 1.");
    }
}
