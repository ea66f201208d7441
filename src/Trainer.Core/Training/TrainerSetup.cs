using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Optimization;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>
/// Everything a trainer is created with. The network, loaders and optimizer are required;
/// the rest has working defaults.
/// </summary>
public sealed class TrainerSetup
{
    /// <summary>The network to train.</summary>
    public required torch.nn.Module<torch.Tensor, torch.Tensor> Network { get; init; }

    /// <summary>Training batches.</summary>
    public required IBatchLoader TrainLoader { get; init; }

    /// <summary>Validation batches, evaluated at the end of every epoch (optional).</summary>
    public IBatchLoader? ValLoader { get; init; }

    /// <summary>Held-out batches, evaluated once after training (optional; logged as "test/...").</summary>
    public IBatchLoader? EvalLoader { get; init; }

    /// <summary>Loss function the task trainer applies (a task trainer may ignore it).</summary>
    public torch.nn.Module<torch.Tensor, torch.Tensor, torch.Tensor>? Criterion { get; init; }

    /// <summary>Optimizer over <see cref="Network"/>'s parameters.</summary>
    public required TorchSharp.Modules.OptimizerHelper Optimizer { get; init; }

    /// <summary>Learning-rate schedule stepped at each epoch end (optional).</summary>
    public ILrSchedule? Scheduler { get; init; }

    /// <summary>Device the network and batches run on.</summary>
    public torch.Device Device { get; init; } = torch.CPU;

    /// <summary>Loop settings: epochs, stop rule, clipping, checkpoint monitor.</summary>
    public TrainerSettings Settings { get; init; } = new();

    /// <summary>Hooks that add terms to every training batch's losses after the trainer's own (distillation, regularisers),
    /// applied in this order.</summary>
    public IReadOnlyList<ILossHook> LossHooks { get; init; } = [];

    /// <summary>Callbacks, called in this order.</summary>
    public IReadOnlyList<TrainerCallback> Callbacks { get; init; } = [];

    /// <summary>Folder for "last" and "best" checkpoints; null disables checkpoints.</summary>
    public string? CheckpointDir { get; init; }

    /// <summary>Free-form arguments a task trainer may read (the AMC trainer's "additional args").</summary>
    public IReadOnlyDictionary<string, object> AdditionalArgs { get; init; } = new Dictionary<string, object>();

    /// <summary>Logger for the loop's own messages.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
