using Trainer.Abstractions;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch.nn.functional;

namespace Examples.FashionMnist;

/// <summary>
/// A task trainer written the way a user writes one: it says how a batch becomes predictions,
/// which losses to minimise (label-smoothed cross-entropy plus a small logit penalty, both logged),
/// and which metric to report. The loop, checkpoints and logging come from BaseTrainer.
/// </summary>
public sealed class SmoothedClassificationTrainer(TrainerSetup setup, double labelSmoothing = 0.1, double logitPenalty = 1e-4)
    : BaseTrainer(setup)
{
    protected override torch.Tensor GetTrainBatchPredictions(Batch batch) => Network.call(batch.Inputs.to(Device));

    protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor logits, Batch batch)
    {
        var ce = cross_entropy(logits, batch.Targets.to(Device), label_smoothing: labelSmoothing);
        var penalty = logits.pow(2).mean() * logitPenalty;
        return new Dictionary<string, torch.Tensor>
        {
            ["ce_loss"] = ce,
            ["logit_penalty"] = penalty,
            [LossNames.Total] = ce + penalty,
        };
    }

    protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor logits, Batch batch) =>
        new Dictionary<string, double>
        {
            ["accuracy"] = logits.argmax(1).eq(batch.Targets.to(Device)).sum().item<long>() / (double)batch.Size,
        };
}
