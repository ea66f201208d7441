using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// What every pruning scorer does with a policy: prunes a copy of its model to it (<see cref="PrunedCopy"/>, the one step each
/// scorer defines: a channel selection, a compressor), re-estimates the copy's BatchNorm statistics when asked, and scores it
/// with the task on held-out data, without finetuning. The model itself is not changed.
/// </summary>
public abstract class PrunedCopyScorer : IPolicyScorer, IPolicyPruner
{
    private readonly IBatchLoader heldOut;
    private readonly BatchNormRecalibration? recalibration;

    /// <summary>A scorer that scores its pruned copies with <paramref name="task"/> on <paramref name="heldOut"/>.</summary>
    /// <param name="task">Scores each pruned copy; a lower-is-better score is negated (searches maximise).</param>
    /// <param name="heldOut">The batches each copy is scored on: a held-out part of the training set.</param>
    /// <param name="recalibration">Re-estimates each pruned copy's BatchNorm statistics before it is scored (none: as AMC and NNI score).</param>
    private protected PrunedCopyScorer(TrainingTask task, IBatchLoader heldOut, BatchNormRecalibration? recalibration)
    {
        Task = task ?? throw new ArgumentNullException(nameof(task));
        this.heldOut = heldOut ?? throw new ArgumentNullException(nameof(heldOut));
        this.recalibration = recalibration;
    }

    /// <summary>The task that scores the copies.</summary>
    protected TrainingTask Task { get; }

    /// <inheritdoc />
    public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels)
    {
        using var copy = PrunedCopy(keptChannels);
        recalibration?.Apply(copy);
        double score = Task.ScoreOf(copy, heldOut);
        return new PolicyScore(Task.Score.HigherIsBetter ? score : -score, copy.parameters().Sum(p => p.numel()));
    }

    /// <inheritdoc />
    public abstract nn.Module<Tensor, Tensor> PrunedCopy(IReadOnlyDictionary<string, int> keptChannels);

    /// <summary>The groups a policy narrows (its kept count below the group's width), with their counts.</summary>
    /// <exception cref="ArgumentException">The policy names a group the model does not have.</exception>
    private protected static List<(ChannelGroupInfo Group, int Kept)> Narrowed(IReadOnlyList<ChannelGroupInfo> groups, IReadOnlyDictionary<string, int> keptChannels)
    {
        var byId = groups.ToDictionary(g => g.Id);
        var narrowed = new List<(ChannelGroupInfo, int)>();
        foreach (var (id, kept) in keptChannels)
        {
            if (!byId.TryGetValue(id, out var group))
                throw new ArgumentException($"the policy names group '{id}', which the model does not have", nameof(keptChannels));
            if (kept < group.Channels) narrowed.Add((group, kept));
        }
        return narrowed;
    }
}
