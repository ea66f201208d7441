using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Chooses which output filters of one layer to zero for a given sparsity. Implementations only
/// decide; they never change the layer (see <see cref="FilterMasking"/> for applying a choice).
/// </summary>
public interface IFilterPruner : ILayerPruner
{
    /// <inheritdoc />
    string ILayerPruner.Unit => "filters";

    /// <summary>Zeroes the filters <see cref="SelectFiltersToPrune"/> chooses (weight rows and bias entries).</summary>
    (int Pruned, int Total) ILayerPruner.PruneInPlace(nn.Module<Tensor, Tensor> layer, double sparsity)
    {
        var prune = SelectFiltersToPrune(layer, sparsity);
        return (FilterMasking.Apply(layer, prune), prune.Length);
    }

    /// <summary>
    /// Computes the filters of <paramref name="layer"/> to prune at <paramref name="sparsity"/>.
    /// </summary>
    /// <param name="layer">A <see cref="TorchSharp.Modules.Conv2d"/> or <see cref="TorchSharp.Modules.Linear"/>.</param>
    /// <param name="sparsity">Fraction of the output filters to prune, strictly between 0 and 1.</param>
    /// <returns>
    /// One entry per output channel (dimension 0 of the weight); <c>true</c> marks a filter to zero.
    /// </returns>
    /// <exception cref="ArgumentException">The layer is not supported or the sparsity is outside (0, 1).</exception>
    bool[] SelectFiltersToPrune(nn.Module<Tensor, Tensor> layer, double sparsity);
}
