using Trainer.Abstractions;

namespace Trainer.Core.Training;

/// <summary>
/// A callback that rules epochs out of being the "best" checkpoint: <see cref="BaseTrainer"/> writes best.ckpt only at an
/// epoch end every gate allows. Scheduled pruning allows only epochs validated at the final sparsity, so the best
/// checkpoint (what `trainer run` hands to its next stage) is never a less pruned model.
/// </summary>
public interface IBestCheckpointGate
{
    /// <summary>True when the checkpoint of the epoch ending now may become the best one.</summary>
    bool MayBeBest(ITrainingContext context);
}
