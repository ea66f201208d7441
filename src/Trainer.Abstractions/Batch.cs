using TorchSharp;

namespace Trainer.Abstractions;

/// <summary>
/// One mini-batch: the network input and the training target. Tensors live in the dispose scope
/// of the step that asked for them; a hook that keeps one beyond the step must detach it.
/// </summary>
/// <param name="Inputs">Input tensor, first dimension is the batch.</param>
/// <param name="Targets">Target tensor (class indices for classification).</param>
public sealed record Batch(torch.Tensor Inputs, torch.Tensor Targets)
{
    /// <summary>Number of samples in the batch.</summary>
    public int Size => (int)Inputs.shape[0];
}
