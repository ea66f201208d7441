using Trainer.Core.Pruning.Importance;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Importance of each output filter (row of dimension 0) of a weight, in double precision, by NNI v2.10's formulas
/// (<see cref="WeightImportance"/>, computed on a float64 copy): the L1 and L2 norms of the filter's weights and FPGM's
/// summed L2 distance to the other filters (a filter near the geometric median is the most replaceable, so it scores
/// lowest). Higher is kept first.
/// </summary>
public static class FilterScores
{
    /// <summary>Σ|w| of each filter.</summary>
    public static double[] L1(Tensor weight) => Rows(weight, ImportanceCriterion.L1Norm);

    /// <summary>‖w‖₂ of each filter.</summary>
    public static double[] L2(Tensor weight) => Rows(weight, ImportanceCriterion.L2Norm);

    /// <summary>Σ_j ‖w_i − w_j‖₂ of each filter i.</summary>
    public static double[] Fpgm(Tensor weight) => Rows(weight, ImportanceCriterion.Fpgm);

    private static double[] Rows(Tensor weight, ImportanceCriterion criterion)
    {
        using var scope = NewDisposeScope();
        return WeightImportance.Of(criterion, weight.detach().to_type(ScalarType.Float64)).data<double>().ToArray();
    }
}

/// <summary>
/// Prunes the int(filters · sparsity) output filters with the smallest score (a layer of fewer than 2 filters is never
/// pruned, as in NNI); ties are broken by index, the lower index kept (see <see cref="L1FilterPruner"/>).
/// </summary>
/// <param name="score">Importance of each filter of a weight (<see cref="FilterScores"/>).</param>
public class ScoredFilterPruner(Func<Tensor, double[]> score) : IFilterPruner
{
    /// <inheritdoc />
    public bool[] SelectFiltersToPrune(nn.Module<Tensor, Tensor> layer, double sparsity)
    {
        L1FilterPruner.CheckSparsity(sparsity);
        var scores = score(FilterMasking.WeightOf(layer));
        var prune = new bool[scores.Length];
        var count = L1FilterPruner.PruneCount(scores.Length, sparsity);
        if (count == 0) return prune;
        var ranked = Enumerable.Range(0, scores.Length).OrderByDescending(i => scores[i]).ThenBy(i => i).ToArray();
        foreach (var i in ranked[^count..]) prune[i] = true;
        return prune;
    }
}

/// <summary>NNI's L2NormPruner criterion: the filters with the smallest L2 norm.</summary>
public sealed class L2FilterPruner() : ScoredFilterPruner(FilterScores.L2);

/// <summary>NNI's FPGMPruner criterion: the filters nearest the geometric median of the layer's filters.</summary>
public sealed class FpgmFilterPruner() : ScoredFilterPruner(FilterScores.Fpgm);

/// <summary>
/// NNI's LevelPruner criterion: the int(weights · sparsity) weights of smallest magnitude, zeroed one by one (unstructured;
/// the bias is kept). Ties are broken by index, the lower index kept.
/// </summary>
public sealed class LevelWeightPruner : ILayerPruner
{
    /// <inheritdoc />
    public string Unit => "weights";

    /// <inheritdoc />
    public (int Pruned, int Total) PruneInPlace(nn.Module<Tensor, Tensor> layer, double sparsity)
    {
        L1FilterPruner.CheckSparsity(sparsity);
        var weight = FilterMasking.WeightOf(layer);
        var total = (int)weight.numel();
        var count = (int)Math.Truncate(total * sparsity);
        if (count == 0) return (0, total);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Stable ascending sort of |w| by magnitude puts the lower index first among equals; the first count go.
        var order = weight.detach().abs().reshape(-1).sort(stable: true).Indices;
        weight.view(-1).index_fill_(0, order[..count], 0);
        return (count, total);
    }
}

/// <summary>The pruners sensitivity analysis can use, by the name configuration gives.</summary>
public static class SensitivityPruners
{
    /// <summary>Accepted names: l1 (default), l2, fpgm, level.</summary>
    public static readonly IReadOnlyList<string> Names = ["l1", "l2", "fpgm", "level"];

    /// <summary>The pruner named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">An unknown name, listing the accepted ones.</exception>
    public static ILayerPruner Create(string name) => name.ToLowerInvariant() switch
    {
        "l1" => new L1FilterPruner(),
        "l2" => new L2FilterPruner(),
        "fpgm" => new FpgmFilterPruner(),
        "level" => new LevelWeightPruner(),
        _ => throw new ArgumentException($"unknown pruner '{name}'; accepted: {string.Join(", ", Names)}", nameof(name)),
    };
}
