using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Admm;

/// <summary>Settings of <see cref="AdmmPruning"/> (NNI v2.10's ADMMPruner: iterations, training_epochs, rho).</summary>
public sealed record AdmmOptions
{
    /// <summary>ADMM iterations: each a W-step (training) then the Z- and U-steps (NNI's example: 10).</summary>
    public int Iterations { get; init; } = 10;

    /// <summary>The training of each W-step (NNI: training_epochs whole epochs of the evaluator's training; here whole epochs
    /// when <see cref="ShortTrainingOptions.Steps"/> is 0, else that many steps).</summary>
    public ShortTrainingOptions Training { get; init; } = new() { Steps = 0, Epochs = 1 };

    /// <summary>The penalty ρ (NNI's default per config: 1e-4).</summary>
    public double Rho { get; init; } = 1e-4;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range.</exception>
    public void Validate()
    {
        if (Iterations < 1) throw new ArgumentException($"ADMM iterations {Iterations}: need 1 or more");
        if (!(Rho > 0) || !double.IsFinite(Rho)) throw new ArgumentException($"ADMM rho {Rho}: need a positive number (NNI: 1e-4)");
        ArgumentNullException.ThrowIfNull(Training);
        Training.Validate();
    }
}

/// <summary>What ADMM decided: the kept channels of each channel-group target and the masks of every target, both from the
/// final weights, and the primal residual ‖W − Z‖ after each iteration.</summary>
/// <param name="KeptByGroup">Group id → kept-channel flags (for <see cref="ChannelGroupTarget"/>s), what the model editor shrinks.</param>
/// <param name="Residuals">‖W − Z‖_F after each iteration's Z-step.</param>
public sealed record AdmmOutcome(IReadOnlyDictionary<string, bool[]> KeptByGroup, IReadOnlyList<double> Residuals);

/// <summary>
/// ADMM weight pruning (Zhang et al. 2018) as NNI v2.10's ADMMPruner runs it: Z = W and U = 0; each iteration trains the
/// model through the task with the loss hook ρ/2 · Σ‖W − Z + U‖² added (<see cref="AdmmLossHook"/>), then Z = Π(W + U), the
/// projection onto the targets' sparsity by their criterion, and U = U + W − Z. After the last iteration the masks come from
/// the final weights W by the same criterion (NNI computes its final masks from the last collected weights, not from Z).
/// The pruner decides the channels; shrinking them is the model editor's job.
/// </summary>
public static class AdmmPruning
{
    /// <summary>Runs ADMM on <paramref name="model"/> (its weights change) with the constraints and variables of <paramref name="state"/>.</summary>
    public static AdmmOutcome Run(TrainingTask task, nn.Module<Tensor, Tensor> model, IBatchLoader train, AdmmState state, AdmmOptions options,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        logger ??= NullLogger.Instance;
        var hook = new AdmmLossHook(state);
        var residuals = new List<double>();
        for (int i = 0; i < options.Iterations; i++)
        {
            ShortTraining.Run(task, model, train, options.Training with { Seed = options.Training.Seed + i }, [hook]);
            residuals.Add(state.Update(model));
            logger.LogInformation("ADMM iteration {Iteration}: ‖W − Z‖ = {Residual:g4}", i, residuals[^1]);
        }
        return new AdmmOutcome(FinalKept(model, state), residuals);
    }

    /// <summary>The kept channels of every channel-group target by the final weights.</summary>
    public static IReadOnlyDictionary<string, bool[]> FinalKept(nn.Module<Tensor, Tensor> model, AdmmState state)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(state);
        var weights = AdmmState.Weights(model, state.Layers);
        return state.Targets.OfType<ChannelGroupTarget>().ToDictionary(t => t.Id, t => t.KeptChannels(weights));
    }
}
