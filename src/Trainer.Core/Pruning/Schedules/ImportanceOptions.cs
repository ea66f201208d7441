using Trainer.Core.Pruning.Importance;
using TorchSharp;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// Which importance a pruning callback ranks by and how the data-driven criteria collect it while the user's training runs:
/// apoz and mean-activation hook each target's output over the last <see cref="TrainingSteps"/> training batches before a
/// pruning point, taylor-fo accumulates (w·g)² over the last <see cref="TrainingSteps"/> optimizer steps before it, slim
/// adds λ·Σ|γ| of the BatchNorms after the targets to the loss for the whole run (<see cref="ILossHookSource"/>).
/// </summary>
public sealed record ImportanceOptions
{
    /// <summary>The criterion; every one but level prunes whole output channels (dim 0) of each target.</summary>
    public ImportanceCriterion Criterion { get; init; } = ImportanceCriterion.Level;

    /// <summary>apoz, mean-activation, taylor-fo: batches (optimizer steps) collected before each pruning point, NNI's
    /// training_steps. Fewer are collected when fewer batches ran since the previous pruning point.</summary>
    public int TrainingSteps { get; init; } = 20;

    /// <summary>apoz, mean-activation: the activation applied to each target's output (relu, gelu, relu6).</summary>
    public string Activation { get; init; } = "relu";

    /// <summary>slim: λ of the λ·Σ|γ| term (NNI's scale, default 0.0001).</summary>
    public double SlimLambda { get; init; } = SlimRegularizer.DefaultScale;

    /// <summary>apoz, mean-activation, taylor-fo with pruning at epoch ends: the training batches of an epoch (the loader's
    /// BatchCount), so the window is the epoch's last <see cref="TrainingSteps"/> batches.</summary>
    public int BatchesPerEpoch { get; init; }

    /// <summary>slim: the whole network, whose BatchNorm layers reading each target's output are found by one eval forward.</summary>
    public torch.nn.Module<torch.Tensor, torch.Tensor>? Network { get; init; }

    /// <summary>slim: the network's input shape for that forward (batch dim included, e.g. [1, 3, 32, 32]).</summary>
    public IReadOnlyList<long>? InputShape { get; init; }

    /// <summary>Checks the values that need no network; one <see cref="ArgumentException"/> naming the bad one.</summary>
    public void Check()
    {
        if (!Enum.IsDefined(Criterion)) throw new ArgumentException($"Unknown importance criterion {(int)Criterion}.", nameof(Criterion));
        if (TrainingSteps < 1)
            throw new ArgumentException($"TrainingSteps = {TrainingSteps}: the data-driven criteria collect over at least 1 batch before each pruning.", nameof(TrainingSteps));
        if (!ImportanceCriteria.Activations.Contains(Activation))
            throw new ArgumentException($"Activation = '{Activation}' is unknown; accepted: {string.Join(", ", ImportanceCriteria.Activations)}.", nameof(Activation));
        if (!(SlimLambda >= 0 && double.IsFinite(SlimLambda)))
            throw new ArgumentException($"SlimLambda = {SlimLambda}: λ is a finite value ≥ 0, NNI's default 0.0001.", nameof(SlimLambda));
        if (BatchesPerEpoch < 0) throw new ArgumentException($"BatchesPerEpoch = {BatchesPerEpoch} is negative.", nameof(BatchesPerEpoch));
    }
}

/// <summary>A callback that adds terms to the training loss: give its <see cref="LossHooks"/> to the trainer it runs in.</summary>
public interface ILossHookSource
{
    /// <summary>The loss hooks the trainer must run for this callback to work.</summary>
    IReadOnlyList<Trainer.Abstractions.ILossHook> LossHooks { get; }
}
