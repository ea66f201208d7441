using Trainer.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>NNI v2.10's SlimPruner loss patch: λ·Σ‖γ‖₁ over the selected BatchNorm weights added to the task's loss
/// (under "slim_l1", and into "total_loss").</summary>
/// <param name="scales">The BatchNorm weights (γ) the term covers.</param>
/// <param name="scale">λ.</param>
public sealed class SlimRegularizer(IReadOnlyList<Tensor> scales, double scale) : ILossHook
{
    /// <summary>Name of the added loss.</summary>
    public const string LossName = "slim_l1";

    /// <summary>NNI's default λ.</summary>
    public const double DefaultScale = 0.0001;

    /// <inheritdoc />
    public string Name => "slim";

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Apply(LossHookInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var l1 = scales.Select(w => w.abs().sum()).Aggregate((a, b) => a + b) * scale;
        return new Dictionary<string, Tensor>(input.Losses) { [LossName] = l1, [LossNames.Total] = input.Losses[LossNames.Total] + l1 };
    }
}
