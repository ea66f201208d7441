using Trainer.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Admm;

/// <summary>ADMM's W-step term: ρ/2 · Σ‖W − Z + U‖²_F over the constrained weights, added to the task's loss as
/// "admm_penalty" (Z and U are held fixed during the W-step).</summary>
/// <remarks>NNI v2.10's loss_patch adds ρ/2 · √‖W − Z + U‖ instead, the square root of the norm; this hook follows the
/// augmented Lagrangian of Zhang et al. 2018 (the squared norm), whose gradient ρ(W − Z + U) pulls W toward Z − U.</remarks>
public sealed class AdmmLossHook(AdmmState state) : ILossHook
{
    /// <summary>The loss name of the term.</summary>
    public const string LossName = "admm_penalty";

    /// <inheritdoc />
    public string Name => "admm";

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Apply(LossHookInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var weights = AdmmState.Weights(input.Network, state.Layers);
        Tensor? penalty = null;
        foreach (var layer in state.Layers)
        {
            var w = weights[layer];
            Tensor z = state.Z[layer], u = state.U[layer];
            if (z.device != w.device) (z, u) = (z.to(w.device), u.to(w.device));
            var term = (w - z + u).pow(2).sum();
            penalty = penalty is null ? term : penalty + term;
        }
        penalty = (penalty ?? zeros(1).sum()) * (state.Rho / 2);
        var losses = new Dictionary<string, Tensor>(input.Losses)
        {
            [LossName] = penalty,
            [LossNames.Total] = input.Losses[LossNames.Total] + penalty,
        };
        return losses;
    }
}
