using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>
/// Prunes <see cref="Amount"/> whole channels along <see cref="StructuredPruningMethod.Dim"/> at random (PyTorch's
/// <c>RandomStructured</c>): one <c>torch.rand</c> draw per channel, the lowest draws go.
/// </summary>
public sealed class RandomStructured(PruningAmount amount, long dim = -1) : StructuredPruningMethod(dim)
{
    /// <summary>How many channels to prune (a count, or a fraction of the channels).</summary>
    public PruningAmount Amount { get; } = amount;

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        long dim = CheckedDim(importance);
        long channels = importance.shape[dim];
        long toPrune = Amount.ToPrune(channels, $"channels along dim {Dim}");
        if (toPrune == 0) return defaultMask.clone();
        using var scope = torch.NewDisposeScope();
        var draws = torch.rand(channels);
        var threshold = draws.kthvalue(toPrune, -1).values;
        var kept = draws.gt(threshold).nonzero().reshape(-1);
        var mask = torch.zeros_like(importance).index_fill_(dim, kept, 1);
        mask.mul_(defaultMask.to(mask.dtype));
        return mask.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Prunes the <see cref="Amount"/> channels along <see cref="StructuredPruningMethod.Dim"/> of smallest L-<see cref="N"/>
/// norm (PyTorch's <c>LnStructured</c>); <see cref="N"/> is any p, or ±infinity for the largest or smallest magnitude.
/// The kept channels are the <c>torch.topk</c> of the norms, the same call PyTorch makes, so ties go the same way.
/// </summary>
public sealed class LnStructured : StructuredPruningMethod
{
    /// <summary>Creates the method: prune <paramref name="amount"/> channels along <paramref name="dim"/> by their L-<paramref name="n"/> norm.</summary>
    public LnStructured(PruningAmount amount, double n, long dim = -1) : base(dim)
    {
        if (double.IsNaN(n)) throw new ArgumentOutOfRangeException(nameof(n), n, "The norm order n is NaN; give a number such as 1 or 2, or ±infinity.");
        Amount = amount;
        N = n;
    }

    /// <summary>How many channels to prune (a count, or a fraction of the channels).</summary>
    public PruningAmount Amount { get; }

    /// <summary>The norm order p of the channel norms.</summary>
    public double N { get; }

    /// <inheritdoc/>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        long dim = CheckedDim(importance);
        long channels = importance.shape[dim];
        long toPrune = Amount.ToPrune(channels, $"channels along dim {Dim}");
        using var scope = torch.NewDisposeScope();
        var otherDims = Enumerable.Range(0, (int)importance.dim()).Where(d => d != dim).Select(d => (long)d).ToArray();
        var norms = torch.linalg.vector_norm(importance, N, otherDims);
        var (_, kept) = norms.topk((int)(channels - toPrune), largest: true);
        if (toPrune == 0) return defaultMask.clone().MoveToOuterDisposeScope();
        var mask = torch.zeros_like(importance).index_fill_(dim, kept, 1);
        mask.mul_(defaultMask.to(mask.dtype));
        return mask.MoveToOuterDisposeScope();
    }
}
