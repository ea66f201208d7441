using TorchSharp;

namespace Trainer.Abstractions;

/// <summary>What a loss hook sees of one training batch.</summary>
/// <param name="Network">The network being trained.</param>
/// <param name="Predictions">What the trainer's network produced for the batch.</param>
/// <param name="Batch">The batch.</param>
/// <param name="Device">The device the network runs on.</param>
/// <param name="Losses">The trainer's named losses so far, "total_loss" included.</param>
public sealed record LossHookInput(torch.nn.Module<torch.Tensor, torch.Tensor> Network, torch.Tensor Predictions, Batch Batch,
    torch.Device Device, IReadOnlyDictionary<string, torch.Tensor> Losses);

/// <summary>
/// Adds terms to any trainer's training losses (distillation, sparsity regularisers): the loop calls each hook after the
/// trainer's own <c>GetTrainLosses</c>, so they compose with a user's trainer instead of subclassing one.
/// </summary>
public interface ILossHook
{
    /// <summary>Name of the hook, for logs and errors.</summary>
    string Name { get; }

    /// <summary>The losses with this hook's terms added under their own names and "total_loss" updated to include them.</summary>
    IReadOnlyDictionary<string, torch.Tensor> Apply(LossHookInput input);
}
