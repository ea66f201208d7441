using Trainer.Abstractions;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>
/// Trainer for single-label classification: the network maps inputs to logits, the loss is the
/// setup's criterion (cross-entropy by default), and validation reports accuracy.
/// </summary>
public class ClassificationTrainer(TrainerSetup setup) : BaseTrainer(setup)
{
    private readonly torch.nn.Module<torch.Tensor, torch.Tensor, torch.Tensor> _criterion =
        setup.Criterion ?? torch.nn.CrossEntropyLoss();

    /// <inheritdoc />
    protected override torch.Tensor GetTrainBatchPredictions(Batch batch) => Network.call(batch.Inputs.to(Device));

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor predictions, Batch batch) =>
        ClassificationLosses(predictions, batch);

    /// <summary>The criterion on the batch's targets, as the "total_loss".</summary>
    protected IReadOnlyDictionary<string, torch.Tensor> ClassificationLosses(torch.Tensor predictions, Batch batch) =>
        new Dictionary<string, torch.Tensor> { [LossNames.Total] = _criterion.call(predictions, batch.Targets.to(Device)) };

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, torch.Tensor> GetValLosses(torch.Tensor predictions, Batch batch) =>
        ClassificationLosses(predictions, batch);

    /// <inheritdoc />
    protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor predictions, Batch batch)
    {
        var correct = predictions.argmax(1).eq(batch.Targets.to(Device)).sum().item<long>();
        return new Dictionary<string, double> { ["accuracy"] = (double)correct / batch.Size };
    }
}
