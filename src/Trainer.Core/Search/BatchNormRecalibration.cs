using Trainer.Abstractions;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// Re-estimates the running statistics of a pruned copy's BatchNorm layers on training batches before it is scored, no weight
/// changed: removing channels shifts every later layer's input distribution, and stale statistics can take a BatchNorm network
/// to chance accuracy (a residual Fashion net L1-pruned to 0.3 of its MACs scored 10 % with them), which hides the differences
/// between policies that a search needs. This is EagleEye's adaptive BatchNorm (Li et al. 2020); AMC and NNI score pruned
/// copies without it, so it is off unless asked for.
/// </summary>
/// <param name="Loader">Training batches (not the held-out ones the copy is scored on).</param>
/// <param name="Batches">How many of the loader's first batches (epoch 0) to average over; 0 turns it off.</param>
public sealed record BatchNormRecalibration(IBatchLoader Loader, int Batches)
{
    /// <summary>Replaces the running mean and variance of every BatchNorm1d/2d/3d of <paramref name="model"/> that tracks them
    /// by their cumulative average over <see cref="Batches"/> batches (PyTorch's <c>momentum=None</c>); every other module
    /// stays in eval mode (dropout off). The model is left in eval mode.</summary>
    /// <returns>The number of BatchNorm layers re-estimated.</returns>
    public int Apply(nn.Module<Tensor, Tensor> model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(Batches);
        var norms = model.modules().OfType<NormBase>()
            .Where(n => n is BatchNorm1d or BatchNorm2d or BatchNorm3d && n.track_running_stats).ToList();
        if (norms.Count == 0 || Batches == 0) return 0;
        var momenta = norms.Select(n => n.momentum).ToList();
        model.eval();
        try
        {
            using var noGrad = no_grad();
            foreach (var norm in norms)
            {
                norm.reset_running_stats();
                norm.train();
            }
            int seen = 0;
            foreach (var batch in Loader.GetBatches(0))
            {
                using var scope = NewDisposeScope();
                if (seen == Batches) break;
                seen++;
                // Batch k weighs 1/k: after k batches the statistics are the mean of the k batches' (what momentum=None does).
                foreach (var norm in norms) norm.momentum = 1.0 / seen;
                model.call(batch.Inputs);
            }
            if (seen == 0) throw new InvalidOperationException("The BatchNorm recalibration loader yielded no batch.");
        }
        finally
        {
            for (int i = 0; i < norms.Count; i++) norms[i].momentum = momenta[i];
            model.eval();
        }
        return norms.Count;
    }
}
