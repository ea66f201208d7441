using Trainer.Abstractions;
using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>
/// NNI v2.10's TaylorFOWeightPruner collector: before each optimizer step of the task's training, (w·g)² of each selected
/// layer's weight is added to that layer's sum, for the first <c>steps</c> steps (NNI's tensor hook on the weight's
/// gradient; here the gradient is read after the loop's clipping, when the loop clips). Dispose to free the sums.
/// </summary>
public sealed class TaylorCollector : TrainerCallback, IDisposable
{
    private readonly Dictionary<string, Tensor> weights;
    private readonly Dictionary<string, Tensor> sums = new(StringComparer.Ordinal);
    private readonly int steps;

    /// <summary>Watches the weights of <paramref name="layers"/> of <paramref name="model"/> for <paramref name="steps"/> steps.</summary>
    public TaylorCollector(nn.Module model, IEnumerable<string> layers, int steps)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        weights = layers.ToDictionary(l => l, l => MaskPlanner.Weight(modules[l], l), StringComparer.Ordinal);
        this.steps = steps;
    }

    /// <summary>Steps collected so far.</summary>
    public int StepsSeen { get; private set; }

    /// <inheritdoc />
    public override void OnBeforeOptimizerStep(ITrainingContext context)
    {
        if (StepsSeen >= steps) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (layer, weight) in weights)
        {
            if (weight.grad is not { } grad) continue;
            var term = (weight.detach() * grad.detach()).pow(2);
            if (sums.TryGetValue(layer, out var sum)) sum.add_(term);
            else sums[layer] = term.clone().DetachFromDisposeScope();
        }
        StepsSeen++;
    }

    /// <summary>Each layer's metric (the caller owns the tensors): the L1 norm of each output channel's accumulated (w·g)²
    /// (NNI's HookDataNormMetricsCalculator with p = 1 over Scaling([1], 'back')).</summary>
    /// <exception cref="InvalidOperationException">A layer got no gradient in the steps collected.</exception>
    public Dictionary<string, Tensor> Metrics()
    {
        var metrics = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var layer in weights.Keys)
        {
            if (!sums.TryGetValue(layer, out var sum))
                throw new InvalidOperationException($"'{layer}' got no gradient in {StepsSeen} training step(s): is it on the loss's path?");
            using var scope = NewDisposeScope();
            metrics[layer] = linalg.vector_norm(sum.reshape(sum.shape[0], -1), 1, [-1]).MoveToOuterDisposeScope();
        }
        return metrics;
    }

    /// <summary>Frees the sums.</summary>
    public void Dispose()
    {
        foreach (var sum in sums.Values) sum.Dispose();
        sums.Clear();
    }
}

/// <summary>NNI v2.10's SlimPruner loss patch: λ·Σ‖γ‖₁ over the selected BatchNorm weights added to the task's loss
/// (under "slim_l1", and into "total_loss").</summary>
/// <param name="scales">The BatchNorm weights (γ) the term covers.</param>
/// <param name="scale">λ.</param>
public sealed class SlimRegularizer(IReadOnlyList<Tensor> scales, double scale) : ILossHook
{
    /// <summary>Name of the added loss.</summary>
    public const string LossName = "slim_l1";

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
