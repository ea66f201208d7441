using Trainer.Abstractions;
using TorchSharp;
using static TorchSharp.torch.nn.functional;

namespace Trainer.Core.Training;

/// <summary>
/// Trainer for single-target regression: the network maps inputs to <c>[B, 1]</c> predictions in the target's units. The
/// loss ("total_loss") is the mean squared error in standard units (divided by the training target's variance), so the
/// learning rate means the same whatever the target's scale; validation logs the task's score "mse" in the target's own
/// units.
/// </summary>
/// <param name="setup">What the trainer is created with.</param>
/// <param name="targetStd">The training target's standard deviation (above 0).</param>
public class RegressionTrainer(TrainerSetup setup, double targetStd) : BaseTrainer(setup)
{
    /// <summary>The score's name: mean squared error in the target's units.</summary>
    public const string ScoreName = "mse";

    private readonly double _variance = targetStd > 0 ? targetStd * targetStd : throw new ArgumentOutOfRangeException(nameof(targetStd), targetStd, "must be above 0");

    /// <inheritdoc />
    protected override torch.Tensor GetTrainBatchPredictions(Batch batch) => Network.call(batch.Inputs.to(Device)).flatten();

    /// <summary>"total_loss": the mean squared error over the target's variance.</summary>
    protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor predictions, Batch batch) =>
        new Dictionary<string, torch.Tensor> { [LossNames.Total] = mse_loss(predictions, batch.Targets.to(Device)).div_(_variance) };

    /// <summary>"mse" (logged as "val/mse"): the batch's mean squared error in the target's units.</summary>
    protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor predictions, Batch batch) =>
        new Dictionary<string, double> { [ScoreName] = mse_loss(predictions, batch.Targets.to(Device)).to(torch.ScalarType.Float64).item<double>() };
}
