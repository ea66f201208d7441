namespace Trainer.Core.Pruning.Importance;

/// <summary>What a pruner ranks weights or channels by (Torch-Pruning's importance axis, NNI v2.10's pruners). Higher is
/// more important, kept first.</summary>
public enum ImportanceCriterion
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

/// <summary>The criteria by the names configuration gives them (NNI's pruner names) and what each needs.</summary>
public static class ImportanceCriteria
{
    /// <summary>Every criterion's name, in <see cref="ImportanceCriterion"/> order.</summary>
    public static readonly IReadOnlyList<string> Names = ["level", "l1-norm", "l2-norm", "fpgm", "slim", "apoz", "mean-activation", "taylor-fo"];

    /// <summary>The activations apoz and mean-activation may apply to a layer's output (NNI's _choose_activation).</summary>
    public static readonly IReadOnlyList<string> Activations = ["relu", "gelu", "relu6"];

    /// <summary>The configuration name of <paramref name="criterion"/>.</summary>
    public static string NameOf(ImportanceCriterion criterion) => Names[(int)criterion];

    /// <summary>The criterion named <paramref name="name"/> (case-insensitive), or null for an unknown name.</summary>
    public static ImportanceCriterion? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        for (int i = 0; i < Names.Count; i++)
            if (Names[i].Equals(name, StringComparison.OrdinalIgnoreCase)) return (ImportanceCriterion)i;
        return null;
    }

    /// <summary>True for the criteria that rank output channels (one value per channel); level ranks single weights.</summary>
    public static bool IsStructured(ImportanceCriterion criterion) => criterion != ImportanceCriterion.Level;

    /// <summary>True for the criteria whose values come from the task's training (slim, apoz, mean-activation, taylor-fo).</summary>
    public static bool IsDataDriven(ImportanceCriterion criterion) => criterion >= ImportanceCriterion.Slim;
}
