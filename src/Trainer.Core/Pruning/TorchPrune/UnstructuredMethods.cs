using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>Prunes nothing: the mask stays what earlier pruning made it (ones at first), as PyTorch's <c>Identity</c>.</summary>
public sealed class IdentityPruning : PruningMethod
{
    /// <inheritdoc/>
    public override PruningType Type => PruningType.Unstructured;

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask) => defaultMask.clone();
}

/// <summary>
/// Prunes <see cref="Amount"/> entries chosen at random (PyTorch's <c>RandomUnstructured</c>): the entries with the largest
/// of <c>torch.rand_like</c> draws go, so a seeded generator picks the same entries as PyTorch's.
/// </summary>
public sealed class RandomUnstructured(PruningAmount amount) : PruningMethod
{
    /// <summary>How many entries to prune (a count, or a fraction of the tensor's entries).</summary>
    public PruningAmount Amount { get; } = amount;

    /// <inheritdoc/>
    public override PruningType Type => PruningType.Unstructured;

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        long toPrune = Amount.ToPrune(importance.numel(), "entries");
        var mask = defaultMask.clone();
        if (toPrune == 0) return mask;
        using var scope = torch.NewDisposeScope();
        var draws = torch.rand_like(importance);
        var (_, indices) = draws.reshape(-1).topk((int)toPrune);
        mask.view(-1).index_fill_(0, indices, 0);
        return mask;
    }
}

/// <summary>
/// Prunes the <see cref="Amount"/> entries of smallest absolute value (PyTorch's <c>L1Unstructured</c>); ties go as
/// <c>torch.topk</c> orders them, the same call PyTorch makes.
/// </summary>
public sealed class L1Unstructured(PruningAmount amount) : PruningMethod
{
    /// <summary>How many entries to prune (a count, or a fraction of the tensor's entries).</summary>
    public PruningAmount Amount { get; } = amount;

    /// <inheritdoc/>
    public override PruningType Type => PruningType.Unstructured;

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        long toPrune = Amount.ToPrune(importance.numel(), "entries");
        var mask = defaultMask.clone();
        if (toPrune == 0) return mask;
        using var scope = torch.NewDisposeScope();
        var (_, indices) = importance.abs().reshape(-1).topk((int)toPrune, largest: false);
        mask.view(-1).index_fill_(0, indices, 0);
        return mask;
    }
}

/// <summary>
/// Prunes where a given mask is zero, on top of earlier pruning (PyTorch's <c>CustomFromMask</c>); it acts on the whole
/// tensor, so the mask has the parameter's shape.
/// </summary>
public sealed class CustomFromMask : PruningMethod
{
    /// <summary>Creates the method; <paramref name="mask"/> is copied, so later changes to it do not leak in.</summary>
    public CustomFromMask(Tensor mask)
    {
        ArgumentNullException.ThrowIfNull(mask);
        Mask = mask.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The mask to apply: zero where entries are pruned.</summary>
    public Tensor Mask { get; }

    /// <inheritdoc/>
    public override PruningType Type => PruningType.Global;

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        RequireSameShape(Mask, defaultMask, "custom mask's entries", "the parameter");
        return defaultMask * Mask.to(defaultMask.dtype);
    }
}
