using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Applies a filter-pruning choice to a layer in place: the pruned filters' weight slices (dimension 0)
/// and bias entries are set to zero. Nothing is removed, so shapes and the model's structure are kept.
/// Use <see cref="LayerWeightsBackup"/> to undo it.
/// </summary>
public static class FilterMasking
{
    /// <summary>True for the layer types whose output filters can be masked: Conv2d and Linear.</summary>
    public static bool IsSupported(nn.Module<Tensor, Tensor> layer) => layer is Conv2d or Linear;

    /// <summary>The layer's weight; dimension 0 is the output channel.</summary>
    /// <exception cref="ArgumentException">The layer is neither a Conv2d nor a Linear.</exception>
    public static Parameter WeightOf(nn.Module<Tensor, Tensor> layer) => layer switch
    {
        Conv2d c => c.weight,
        Linear l => l.weight,
        _ => throw Unsupported(layer),
    };

    /// <summary>The layer's bias, or null when it has none.</summary>
    /// <exception cref="ArgumentException">The layer is neither a Conv2d nor a Linear.</exception>
    public static Parameter? BiasOf(nn.Module<Tensor, Tensor> layer) => layer switch
    {
        Conv2d c => c.bias,
        Linear l => l.bias,
        _ => throw Unsupported(layer),
    };

    /// <summary>Number of output filters (channels for Conv2d, features for Linear).</summary>
    public static long OutputCount(nn.Module<Tensor, Tensor> layer) => WeightOf(layer).shape[0];

    /// <summary>
    /// Zeroes, in place and without recording gradients, the weight slice and bias entry of every filter
    /// marked <c>true</c> in <paramref name="prune"/>.
    /// </summary>
    /// <returns>The number of filters zeroed.</returns>
    /// <exception cref="ArgumentException">The mask length differs from the number of output filters.</exception>
    public static int Apply(nn.Module<Tensor, Tensor> layer, IReadOnlyList<bool> prune)
    {
        var weight = WeightOf(layer);
        if (prune.Count != weight.shape[0])
            throw new ArgumentException(
                $"The mask has {prune.Count} entries but the layer has {weight.shape[0]} output filters.", nameof(prune));
        var indices = Enumerable.Range(0, prune.Count).Where(i => prune[i]).Select(i => (long)i).ToArray();
        if (indices.Length == 0) return 0;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var index = tensor(indices, device: weight.device);
        // index_fill_ writes +0.0; multiplying by a 0/1 mask would leave -0.0 for negative weights.
        weight.index_fill_(0, index, 0);
        BiasOf(layer)?.index_fill_(0, index, 0);
        return indices.Length;
    }

    private static ArgumentException Unsupported(nn.Module<Tensor, Tensor> layer) =>
        new($"Filter masking supports Conv2d and Linear layers, not {layer.GetType().Name}.", nameof(layer));
}

/// <summary>
/// A detached copy of one layer's weight and bias, taken when created, that can be written back into the
/// same parameters (in place, so optimizers and references stay valid) any number of times.
/// Dispose it to free the copies.
/// </summary>
public sealed class LayerWeightsBackup : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _layer;
    private readonly Tensor _weight;
    private readonly Tensor? _bias;
    private bool _disposed;

    /// <summary>Copies the current weight and bias of <paramref name="layer"/>.</summary>
    public LayerWeightsBackup(nn.Module<Tensor, Tensor> layer)
    {
        _layer = layer;
        using var _ = no_grad();
        _weight = Copy(FilterMasking.WeightOf(layer))!;
        _bias = Copy(FilterMasking.BiasOf(layer));
    }

    private static Tensor? Copy(Tensor? source)
    {
        if (source is null) return null;
        using var alias = source.detach();
        return alias.clone().DetachFromDisposeScope();
    }

    /// <summary>Writes the saved values back into the layer's parameters, bit for bit.</summary>
    public void Restore()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        using var _ = no_grad();
        FilterMasking.WeightOf(_layer).copy_(_weight);
        if (_bias is not null) FilterMasking.BiasOf(_layer)!.copy_(_bias);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _weight.Dispose();
        _bias?.Dispose();
    }
}
