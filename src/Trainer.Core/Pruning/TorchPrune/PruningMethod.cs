using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>What part of a tensor a method's new mask is computed from when it joins earlier pruning (PyTorch's PRUNING_TYPE).</summary>
public enum PruningType
{
    /// <summary>The entries not yet pruned, taken as one flat list.</summary>
    Unstructured,

    /// <summary>The channels (slices along the method's dim) not yet pruned.</summary>
    Structured,

    /// <summary>The whole tensor.</summary>
    Global,
}

/// <summary>
/// One pruning rule, as torch.nn.utils.prune's BasePruningMethod: it computes a mask for a tensor of importance scores,
/// respecting a default mask from earlier pruning. <see cref="Prune"/> applies methods to module parameters.
/// </summary>
public abstract class PruningMethod
{
    /// <summary>Which part of the tensor the method acts on when it follows earlier pruning.</summary>
    public abstract PruningType Type { get; }

    /// <summary>
    /// The name of the parameter the method prunes (set when it is applied); a <see cref="PruningContainer"/> accepts
    /// only methods for its own tensor name.
    /// </summary>
    public string? TensorName { get; set; }

    /// <summary>
    /// A new mask for <paramref name="importance"/>: the method's own mask combined with <paramref name="defaultMask"/>
    /// (the mask of earlier pruning; ones when there was none). Both have the same shape; the result has it too.
    /// </summary>
    public abstract Tensor ComputeMask(Tensor importance, Tensor defaultMask);

    /// <summary>
    /// <paramref name="tensor"/> times the mask this method computes from <paramref name="importanceScores"/> (or from the
    /// tensor itself) and <paramref name="defaultMask"/> (ones when null), as PyTorch's <c>BasePruningMethod.prune</c>.
    /// </summary>
    public Tensor Prune(Tensor tensor, Tensor? defaultMask = null, Tensor? importanceScores = null)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (importanceScores is not null) RequireSameShape(importanceScores, tensor, "importance scores", "the tensor");
        using var scope = torch.NewDisposeScope();
        var mask = ComputeMask(importanceScores ?? tensor, defaultMask ?? torch.ones_like(tensor));
        return (tensor * mask).MoveToOuterDisposeScope();
    }

    /// <summary>Throws when <paramref name="a"/> and <paramref name="b"/> differ in shape, naming both.</summary>
    internal static void RequireSameShape(Tensor a, Tensor b, string aName, string bName)
    {
        if (!a.shape.SequenceEqual(b.shape))
            throw new ArgumentException(
                $"The {aName} have shape [{string.Join(", ", a.shape)}] but {bName} has shape [{string.Join(", ", b.shape)}]; " +
                "give them the same shape.");
    }

    /// <inheritdoc/>
    public override string ToString() => GetType().Name;
}

/// <summary>A pruning method that removes whole channels: slices of the tensor along <see cref="Dim"/>.</summary>
public abstract class StructuredPruningMethod : PruningMethod
{
    /// <summary>Creates a structured method pruning along <paramref name="dim"/> (negative counts from the last dim).</summary>
    protected StructuredPruningMethod(long dim) => Dim = dim;

    /// <summary>The dim whose slices are the channels (negative counts from the end, as in PyTorch).</summary>
    public long Dim { get; }

    /// <inheritdoc/>
    public override PruningType Type => PruningType.Structured;

    /// <summary>
    /// The channel dim of <paramref name="t"/> as a non-negative index; throws for a tensor of fewer than two dims or a
    /// dim out of range, with PyTorch's conditions.
    /// </summary>
    internal long CheckedDim(Tensor t)
    {
        if (t.dim() <= 1)
            throw new ArgumentException(
                $"Structured pruning needs a tensor of two or more dims, but this one has shape [{string.Join(", ", t.shape)}] " +
                $"({t.dim()} dim); prune it with an unstructured method (l1_unstructured, random_unstructured) instead.");
        long dim = Dim < 0 ? t.dim() + Dim : Dim;
        if (dim < 0 || dim >= t.dim())
            throw new ArgumentOutOfRangeException("dim", Dim,
                $"dim={Dim} is out of range for a tensor of shape [{string.Join(", ", t.shape)}]; " +
                $"give a dim from {-t.dim()} to {t.dim() - 1}.");
        return dim;
    }
}
