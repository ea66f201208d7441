using TorchSharp;
using TorchSharp.Modules;

namespace Trainer.Abstractions;

/// <summary>
/// What callbacks see of a running training loop. The loop owns it; callbacks read it and may
/// ask the loop to stop.
/// </summary>
public interface ITrainingContext
{
    /// <summary>The network being trained.</summary>
    torch.nn.Module<torch.Tensor, torch.Tensor> Network { get; }

    /// <summary>The optimizer stepping the network's parameters.</summary>
    torch.optim.Optimizer Optimizer { get; }

    /// <summary>Zero-based index of the current epoch.</summary>
    int Epoch { get; }

    /// <summary>Configured number of epochs.</summary>
    int MaxEpochs { get; }

    /// <summary>Optimizer steps taken so far over the whole run (resumes included).</summary>
    long GlobalStep { get; }

    /// <summary>Learning rate of the first parameter group.</summary>
    double LearningRate { get; }

    /// <summary>
    /// Latest value of every logged metric, by name ("train/total_loss", "val/accuracy", "lr", ...).
    /// </summary>
    IReadOnlyDictionary<string, double> Metrics { get; }

    /// <summary>True once something asked the loop to stop.</summary>
    bool StopRequested { get; }

    /// <summary>Why the loop stops, once it does.</summary>
    string? StopReason { get; }

    /// <summary>Ask the loop to stop at the next epoch boundary, giving the reason it will log.</summary>
    void RequestStop(string reason);
}
