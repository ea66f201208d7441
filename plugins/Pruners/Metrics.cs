using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>What a pruner ranks weights by. Higher is more important (kept first).</summary>
public enum PrunerKind
{
    /// <summary>NNI's LevelPruner: |w| per weight (unstructured).</summary>
    Level,

    /// <summary>NNI's L1NormPruner: the L1 norm of each output channel's weights.</summary>
    L1Norm,

    /// <summary>NNI's L2NormPruner: the L2 norm of each output channel's weights.</summary>
    L2Norm,

    /// <summary>NNI's FPGMPruner: each output channel's summed L2 distance to the layer's other channels (a filter near the
    /// geometric median is the most replaceable).</summary>
    Fpgm,

    /// <summary>NNI's SlimPruner: |γ| of each BatchNorm2d channel after training with λ·Σ‖γ‖₁ added to the loss.</summary>
    Slim,

    /// <summary>NNI's ActivationAPoZRankPruner: 1 − the fraction of zeros in each output channel's activation.</summary>
    Apoz,

    /// <summary>NNI's ActivationMeanRankPruner: the mean of each output channel's activation.</summary>
    MeanActivation,

    /// <summary>NNI's TaylorFOWeightPruner: Σ over an output channel's weights of (w·g)² accumulated over training steps.</summary>
    TaylorFo,
}

/// <summary>
/// NNI v2.10's metrics calculators on one weight, with NNI's tensor operations in NNI's order: NormMetricsCalculator
/// (level: Frobenius norm of each single weight; l1/l2: the p-norm of each output channel's flattened weights) and
/// DistMetricsCalculator (fpgm, p = 2). The caller owns the returned tensor.
/// </summary>
public static class Metrics
{
    /// <summary>True for the pruners that rank output channels (their metric has one value per channel).</summary>
    public static bool IsStructured(PrunerKind kind) => kind != PrunerKind.Level;

    /// <summary>True for the pruners whose metric comes from the task's data and training (<see cref="DataCollectors"/>).</summary>
    public static bool IsDataDriven(PrunerKind kind) => kind >= PrunerKind.Slim;

    /// <summary>The metric of <paramref name="weight"/>: weight-shaped for level, [out channels] otherwise. Slim's metric is
    /// this with level's formula on the BatchNorm weight (|γ|); the other data-driven metrics come from
    /// <see cref="DataCollectors"/>.</summary>
    public static Tensor Of(PrunerKind kind, Tensor weight)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var w = weight.detach();
        var metric = kind switch
        {
            // Scaling([1]): each weight is its own block, reduced by the Frobenius norm over a last dim of size 1.
            PrunerKind.Level or PrunerKind.Slim => linalg.vector_norm(w.unsqueeze(-1), 2, [-1]),
            // Scaling([1], 'back'): one block per output channel holding all its weights in their row-major order.
            PrunerKind.L1Norm => linalg.vector_norm(w.reshape(w.shape[0], -1), 1, [-1]),
            PrunerKind.L2Norm => linalg.vector_norm(w.reshape(w.shape[0], -1), 2, [-1]),
            PrunerKind.Fpgm => Distances(w.reshape(w.shape[0], -1)),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "this pruner's metric is collected during training, not read from a weight"),
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
