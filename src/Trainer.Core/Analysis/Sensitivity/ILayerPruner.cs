using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// What sensitivity analysis prunes a layer with: it zeroes, in place, what the pruner removes at a sparsity (whole filters
/// for the channel pruners, single weights for level). The analysis restores the weights afterwards.
/// </summary>
public interface ILayerPruner
{
    /// <summary>What <see cref="PruneInPlace"/> counts ("filters", "weights"), for the log.</summary>
    string Unit { get; }

    /// <summary>Zeroes what the pruner removes from <paramref name="layer"/> at <paramref name="sparsity"/>.</summary>
    /// <param name="layer">A <see cref="TorchSharp.Modules.Conv2d"/> or <see cref="TorchSharp.Modules.Linear"/>.</param>
    /// <param name="sparsity">Fraction to prune, strictly between 0 and 1.</param>
    /// <returns>How many units were zeroed, of how many.</returns>
    /// <exception cref="ArgumentException">The layer is not supported or the sparsity is outside (0, 1).</exception>
    (int Pruned, int Total) PruneInPlace(nn.Module<Tensor, Tensor> layer, double sparsity);
}
