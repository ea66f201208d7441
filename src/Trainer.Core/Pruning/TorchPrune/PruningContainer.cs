using System.Collections;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>
/// The pruning methods applied one after another to one tensor (PyTorch's <c>PruningContainer</c>). Its mask is the
/// latest method's mask computed on what earlier pruning left: an unstructured method sees the unpruned entries as one
/// flat list (so a fraction is a fraction of them), a structured method sees the channels not yet fully pruned, a
/// global method sees the whole tensor.
/// </summary>
public sealed class PruningContainer : PruningMethod, IReadOnlyList<PruningMethod>
{
    private readonly List<PruningMethod> _methods = [];

    /// <summary>An empty container for the tensor named <paramref name="tensorName"/>.</summary>
    public PruningContainer(string tensorName)
    {
        ArgumentException.ThrowIfNullOrEmpty(tensorName);
        TensorName = tensorName;
    }

    /// <summary>A container for the tensor of <paramref name="first"/>, holding <paramref name="first"/>.</summary>
    public PruningContainer(PruningMethod first)
    {
        ArgumentNullException.ThrowIfNull(first);
        TensorName = first.TensorName;
        Add(first);
    }

    /// <summary>The type of the latest method (the one whose mask the container computes).</summary>
    public override PruningType Type =>
        _methods.Count > 0 ? _methods[^1].Type : throw new InvalidOperationException("The pruning container is empty; add a pruning method first.");

    /// <summary>The number of methods applied so far.</summary>
    public int Count => _methods.Count;

    /// <summary>The method applied <paramref name="index"/>-th.</summary>
    public PruningMethod this[int index] => _methods[index];

    /// <summary>
    /// Appends <paramref name="method"/>; throws when it prunes another tensor than this container's, since one container
    /// composes the pruning of one tensor.
    /// </summary>
    public void Add(PruningMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        if (method.TensorName != TensorName)
            throw new ArgumentException(
                $"A pruning container composes the pruning of one tensor, '{TensorName}', but the method {method} prunes " +
                $"'{method.TensorName}'; prune each tensor through its own container.", nameof(method));
        _methods.Add(method);
    }

    /// <summary>A new container holding this one's methods followed by <paramref name="method"/>.</summary>
    internal PruningContainer With(PruningMethod method)
    {
        var copy = new PruningContainer(TensorName!);
        copy._methods.AddRange(_methods);
        copy.Add(method);
        return copy;
    }

    /// <summary>
    /// The latest method's mask computed on the part of <paramref name="importance"/> that <paramref name="defaultMask"/>
    /// leaves, written into a copy of <paramref name="defaultMask"/> (in <paramref name="importance"/>'s dtype).
    /// </summary>
    public override Tensor ComputeMask(Tensor importance, Tensor defaultMask)
    {
        if (_methods.Count == 0) throw new InvalidOperationException("The pruning container is empty; add a pruning method first.");
        RequireSameShape(importance, defaultMask, "importance scores", "the default mask");
        var method = _methods[^1];
        using var scope = torch.NewDisposeScope();
        var mask = defaultMask.to(importance.dtype, copy: true);
        switch (method.Type)
        {
            case PruningType.Unstructured:
            {
                var left = defaultMask.eq(1);
                var partial = method.ComputeMask(importance.masked_select(left), defaultMask.masked_select(left));
                mask.masked_scatter_(left, partial.to(mask.dtype));
                break;
            }
            case PruningType.Structured:
            {
                var structured = (StructuredPruningMethod)method;
                long dim = structured.CheckedDim(importance);
                var otherDims = Enumerable.Range(0, (int)importance.dim()).Where(d => d != dim).Select(d => (long)d).ToArray();
                var kept = defaultMask.sum(otherDims).ne(0).nonzero().reshape(-1);
                var partial = method.ComputeMask(importance.index_select(dim, kept), defaultMask.index_select(dim, kept));
                mask.index_copy_(dim, kept, partial.to(mask.dtype));
                break;
            }
            case PruningType.Global:
                mask = method.ComputeMask(importance, defaultMask).to(importance.dtype);
                break;
            default:
                throw new InvalidOperationException($"Unknown pruning type {method.Type} of {method}.");
        }
        return mask.MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public IEnumerator<PruningMethod> GetEnumerator() => _methods.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => $"PruningContainer('{TensorName}': {string.Join(", ", _methods)})";
}
