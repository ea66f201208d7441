using System.Text.Json.Nodes;
using TorchSharp;

namespace Trainer.Abstractions;

/// <summary>
/// A small piece of behaviour plugged into the training loop. Every hook is a no-op by default;
/// override the ones you need. Hooks run in the order the callbacks were registered.
/// </summary>
public abstract class TrainerCallback
{
    /// <summary>Key under which this callback's state is stored in checkpoints.</summary>
    public virtual string StateKey => GetType().FullName ?? GetType().Name;

    /// <summary>Once, before the first epoch (after a resume, before the first remaining epoch).</summary>
    public virtual void OnTrainStart(ITrainingContext context) { }

    /// <summary>At the start of each epoch.</summary>
    public virtual void OnEpochStart(ITrainingContext context) { }

    /// <summary>After the loss is computed and before backward runs on it.</summary>
    public virtual void OnBeforeBackward(ITrainingContext context, torch.Tensor totalLoss) { }

    /// <summary>After backward (and gradient clipping), before the optimizer steps.</summary>
    public virtual void OnBeforeOptimizerStep(ITrainingContext context) { }

    /// <summary>After each training batch, with that batch's losses as plain numbers.</summary>
    public virtual void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome) { }

    /// <summary>After each validation pass, with its averaged losses and metrics ("val/..." names).</summary>
    public virtual void OnValidationEnd(ITrainingContext context, IReadOnlyDictionary<string, double> metrics) { }

    /// <summary>At the end of each epoch, after validation and the learning-rate schedule.</summary>
    public virtual void OnEpochEnd(ITrainingContext context) { }

    /// <summary>Once, after the last epoch, with the reason the loop stopped.</summary>
    public virtual void OnTrainEnd(ITrainingContext context) { }

    /// <summary>When the loop fails; the exception is rethrown afterwards.</summary>
    public virtual void OnException(ITrainingContext context, Exception exception) { }

    /// <summary>State to save in checkpoints, or null if the callback has none.</summary>
    public virtual JsonObject? SaveState() => null;

    /// <summary>Restore what <see cref="SaveState"/> returned, when a run resumes.</summary>
    public virtual void LoadState(JsonObject state) { }
}
