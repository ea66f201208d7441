using Trainer.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// NetAdapt's scorer: like <see cref="TaskPolicyScorer"/> it shrinks a copy of its base model to the policy (L1-selected
/// channels per group), then finetunes the copy for a short term through the task (<see cref="ShortTraining"/>) before
/// scoring it on held-out data. <see cref="Adopt"/> makes a candidate's finetuned copy the new base, as NNI's NetAdaptPruner
/// loads the chosen candidate's weights before its next iteration.
/// </summary>
/// <remarks>A candidate is data: the base (its weights and its <see cref="BaseEdits"/> on the factory's architecture), the
/// policy (kept counts per group id, which are absolute, so they mean the same on a shrunk base) and the seeded
/// <see cref="ShortTrainingOptions"/>; the same three give the same finetuned weights, which is how <see cref="Adopt"/>
/// rebuilds the chosen one instead of holding every candidate in memory, and how a trial runner can score it elsewhere.
/// Unlike NNI, which masks a full-size copy, the copy is shrunk before it is finetuned (the same function, cheaper steps).</remarks>
public sealed class FinetuningPolicyScorer : IPolicyScorer, IDisposable
{
    private readonly TrainingTask task;
    private readonly Func<nn.Module<Tensor, Tensor>> factory;
    private readonly long[] inputShape;
    private readonly IBatchLoader train;
    private readonly IBatchLoader heldOut;
    private readonly ShortTrainingOptions finetune;
    private readonly int roundTo;
    private nn.Module<Tensor, Tensor> baseModel;
    private bool ownsBase;

    /// <summary>A scorer that finetunes each pruned copy of <paramref name="model"/>.</summary>
    /// <param name="task">Trains (its own trainer and loss) and scores each copy; a lower-is-better score is negated.</param>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="model">The first base; not changed (an adopted candidate replaces it as the base, not in place).</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="train">Training batches of the short-term finetuning.</param>
    /// <param name="heldOut">Held-out training batches each copy is scored on (never the validation set).</param>
    /// <param name="finetune">Steps, learning rate and seed of the short-term finetuning.</param>
    /// <param name="roundTo">Channel multiple (the search space's).</param>
    /// <param name="edits">Edits that made <paramref name="model"/> from the factory's architecture.</param>
    public FinetuningPolicyScorer(TrainingTask task, Func<nn.Module<Tensor, Tensor>> factory, nn.Module<Tensor, Tensor> model, long[] inputShape,
        IBatchLoader train, IBatchLoader heldOut, ShortTrainingOptions finetune, int roundTo = 1, IReadOnlyList<ModelEdit>? edits = null)
    {
        this.task = task ?? throw new ArgumentNullException(nameof(task));
        this.factory = factory ?? throw new ArgumentNullException(nameof(factory));
        baseModel = model ?? throw new ArgumentNullException(nameof(model));
        this.inputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        this.train = train ?? throw new ArgumentNullException(nameof(train));
        this.heldOut = heldOut ?? throw new ArgumentNullException(nameof(heldOut));
        this.finetune = finetune ?? throw new ArgumentNullException(nameof(finetune));
        finetune.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
        this.roundTo = roundTo;
        BaseEdits = edits ?? [];
    }

    /// <summary>The model candidates are pruned from: the one given, then the last adopted candidate.</summary>
    public nn.Module<Tensor, Tensor> Base => baseModel;

    /// <summary>The edits that made <see cref="Base"/> from the factory's architecture.</summary>
    public IReadOnlyList<ModelEdit> BaseEdits { get; private set; }

    /// <inheritdoc />
    public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(keptChannels);
        var (copy, cost, _) = Finetuned(keptChannels);
        using (copy)
        {
            double score = task.ScoreOf(copy, heldOut);
            return new PolicyScore(task.Score.HigherIsBetter ? score : -score, cost.Params);
        }
    }

    /// <summary>Makes the finetuned candidate of <paramref name="keptChannels"/> the base of the next candidates (NNI loads
    /// the chosen candidate's weights into the model it prunes next).</summary>
    public void Adopt(IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(keptChannels);
        var (copy, _, edits) = Finetuned(keptChannels);
        if (ownsBase) baseModel.Dispose();
        baseModel = copy;
        ownsBase = true;
        BaseEdits = [.. BaseEdits, .. edits];
    }

    /// <summary>Writes <see cref="Base"/>'s weights to <paramref name="path"/> (atomically, the checkpoint weights format): with
    /// <see cref="BaseEdits"/> replayed on the factory's model and these weights loaded, a trial elsewhere rebuilds the base
    /// and scores a candidate as <see cref="Score"/> does.</summary>
    public void SaveBase(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        Checkpoints.CheckpointFile.SaveWeights(path, baseModel);
    }

    private (nn.Module<Tensor, Tensor> Copy, Abstractions.Compression.ModelCost Cost, IReadOnlyList<ModelEdit> Edits) Finetuned(
        IReadOnlyDictionary<string, int> keptChannels)
    {
        var copy = ModelCopy.Create(factory, inputShape, BaseEdits, baseModel);
        try
        {
            var (cost, edits) = TaskPolicyScorer.Shrink(copy, inputShape, keptChannels, roundTo);
            ShortTraining.Run(task, copy, train, finetune);
            return (copy, cost, edits);
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>Releases an adopted base (the model given at construction stays the caller's).</summary>
    public void Dispose()
    {
        if (ownsBase) baseModel.Dispose();
        ownsBase = false;
    }
}
