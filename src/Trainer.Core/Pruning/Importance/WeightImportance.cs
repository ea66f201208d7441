using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>
/// NNI v2.10's metrics calculators on one weight, with NNI's tensor operations in NNI's order and the weight's dtype (so
/// NNI's masks come out bit for bit): NormMetricsCalculator (level: the Frobenius norm of each single weight; l1/l2: the
/// p-norm of each output channel's flattened weights) and DistMetricsCalculator (fpgm, p = 2). Slim's metric is level's
/// formula on a BatchNorm weight (|γ|). The caller owns the returned tensor.
/// </summary>
public static class WeightImportance
{
    /// <summary>The importance of <paramref name="weight"/>: weight-shaped for level and slim, [out channels] for l1-norm,
    /// l2-norm and fpgm.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A criterion collected during training (apoz, mean-activation, taylor-fo).</exception>
    public static Tensor Of(ImportanceCriterion criterion, Tensor weight)
    {
        ArgumentNullException.ThrowIfNull(weight);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var w = weight.detach();
        var metric = criterion switch
        {
            // Scaling([1]): each weight is its own block, reduced by the Frobenius norm over a last dim of size 1.
            ImportanceCriterion.Level or ImportanceCriterion.Slim => linalg.vector_norm(w.unsqueeze(-1), 2, [-1]),
            // Scaling([1], 'back'): one block per output channel holding all its weights in their row-major order.
            ImportanceCriterion.L1Norm => linalg.vector_norm(w.reshape(w.shape[0], -1), 1, [-1]),
            ImportanceCriterion.L2Norm => linalg.vector_norm(w.reshape(w.shape[0], -1), 2, [-1]),
            ImportanceCriterion.Fpgm => Distances(w.reshape(w.shape[0], -1)),
            _ => throw new ArgumentOutOfRangeException(nameof(criterion), criterion, "this criterion is collected during training, not read from a weight"),
        };
        return metric.contiguous().MoveToOuterDisposeScope();
    }

    // DistMetricsCalculator's loop: metric[i] = Σ_j ‖w_j − w_i‖₂, one row at a time as NNI computes it.
    private static Tensor Distances(Tensor rows)
    {
        var metric = zeros(rows.shape[0], dtype: rows.dtype);
        for (long i = 0; i < rows.shape[0]; i++)
        {
            using var step = NewDisposeScope();
            metric[i] = linalg.vector_norm(rows - rows[i], 2, [-1]).sum();
        }
        return metric;
    }
}
