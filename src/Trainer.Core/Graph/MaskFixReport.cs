namespace Trainer.Core.Graph;

/// <summary>How <see cref="MaskConflict.Fix"/> makes coupled layers agree.</summary>
public enum ConflictMode
{
    /// <summary>Keep a channel that any layer of a coupled set keeps (NNI's behaviour); a layer without a mask keeps all.</summary>
    Union,
    /// <summary>Keep only the channels every masked layer of a coupled set keeps; a layer without a mask does not restrict.</summary>
    Intersection,
}

/// <summary>What <see cref="MaskConflict.Fix"/> changed in one layer's filter mask.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="KeptBefore">Channels kept by the given mask (all, when none was given).</param>
/// <param name="KeptAfter">Channels kept by the fixed mask.</param>
/// <param name="Restored">Channels the fix keeps although the given mask pruned them.</param>
/// <param name="Removed">Channels the fix prunes although the given mask kept them.</param>
/// <param name="Reason">Why: the coupled layers, the mode, group constraints, or a warning.</param>
public sealed record LayerMaskChange(string Layer, int KeptBefore, int KeptAfter, IReadOnlyList<int> Restored,
    IReadOnlyList<int> Removed, string Reason);

/// <summary>Fixed filter masks and what changed.</summary>
/// <param name="Masks">Layer → keep flag per output channel, for every layer of every set that had a mask.</param>
/// <param name="Changes">One entry per layer whose mask changed (or was created), in set order.</param>
public sealed record MaskFixResult(IReadOnlyDictionary<string, bool[]> Masks, IReadOnlyList<LayerMaskChange> Changes)
{
    /// <summary>One line per change, e.g. "layer1.0.conv2: kept 30 → 41 (restored 11, removed 0): coupled with ...".</summary>
    public string Describe() => string.Join(Environment.NewLine, Changes.Select(c =>
        $"{c.Layer}: kept {c.KeptBefore} → {c.KeptAfter} (restored {c.Restored.Count}, removed {c.Removed.Count}): {c.Reason}"));
}
