using Trainer.Abstractions;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch.nn.functional;

namespace Examples.DenoisingTask;

/// <summary>
/// The denoising task's trainer: the network maps a noisy image to a clean one; training minimises
/// <c>mse + 0.1 · l1</c> (each term logged under its own name, the sum as "total_loss"); validation logs the losses and
/// the task's score "mse" as "val/mse". The loop, checkpoints and logging are BaseTrainer's.
/// </summary>
public sealed class DenoisingTrainer(TrainerSetup setup) : BaseTrainer(setup)
{
    /// <summary>Weight of the L1 term in the total loss.</summary>
    public const double L1Weight = 0.1;

    /// <inheritdoc />
    protected override torch.Tensor GetTrainBatchPredictions(Batch batch) => Network.call(batch.Inputs.to(Device));

    /// <summary>"mse" (pixel mean squared error), "l1" (pixel mean absolute error) and "total_loss" = mse + 0.1 · l1.</summary>
    protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor predictions, Batch batch)
    {
        var clean = batch.Targets.to(Device);
        var mse = mse_loss(predictions, clean);
        var l1 = l1_loss(predictions, clean);
        return new Dictionary<string, torch.Tensor>
        {
            ["mse"] = mse,
            ["l1"] = l1,
            [LossNames.Total] = mse + l1 * L1Weight,
        };
    }

    /// <summary>"l1" and "total_loss" (logged as "val/l1", "val/total_loss"). The "mse" term is left to
    /// <see cref="GetValBatchMetrics"/>: the loop sums a loss and a metric of one name into one figure.</summary>
    protected override IReadOnlyDictionary<string, torch.Tensor> GetValLosses(torch.Tensor predictions, Batch batch) =>
        GetTrainLosses(predictions, batch).Where(kv => kv.Key != ScoreName).ToDictionary(kv => kv.Key, kv => kv.Value);

    /// <summary>The task's score, "mse" (logged as "val/mse"): every image has the same pixel count, so the loop's
    /// sample-weighted mean of the batch means is the per-pixel mean over the whole pass.</summary>
    protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor predictions, Batch batch) =>
        new Dictionary<string, double> { [ScoreName] = mse_loss(predictions, batch.Targets.to(Device)).item<float>() };

    private const string ScoreName = "mse";
}
