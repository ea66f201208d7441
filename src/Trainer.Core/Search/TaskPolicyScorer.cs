using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// The real scorer of a policy: copies the model (<see cref="ModelCopy"/>), keeps in each group the channels whose producer
/// filters have the largest L1 norm (or another filter score: L2, FPGM) summed over the group's producers (<see cref="GroupChannelSelection"/>), shrinks the copy with
/// the model editor and scores it with the task on held-out data, without finetuning. The model is not changed.
/// </summary>
/// <remarks>Give it a held-out part of the training set (AMC holds out a few thousand training images), never the
/// validation set the final model is judged on.</remarks>
public sealed class TaskPolicyScorer : PrunedCopyScorer
{
    private readonly Func<nn.Module<Tensor, Tensor>> factory;
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly IReadOnlyList<ModelEdit> edits;
    private readonly long[] inputShape;
    private readonly int roundTo;
    private readonly Func<Tensor, double[]>? filterScore;

    /// <summary>A scorer of policies for <paramref name="model"/>.</summary>
    /// <param name="task">Scores each pruned copy; a lower-is-better score is negated (searches maximise), so only the
    /// <see cref="RewardKind.Accuracy"/> reward applies to it.</param>
    /// <param name="factory">Builds a fresh model of the original architecture (for the copies).</param>
    /// <param name="model">The model to prune copies of; not changed.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="heldOut">The batches each copy is scored on: a held-out part of the training set.</param>
    /// <param name="roundTo">Channel multiple the editor rounds kept counts to (use the search space's).</param>
    /// <param name="edits">Edits that made <paramref name="model"/> from the factory's architecture (none by default).</param>
    /// <param name="recalibration">Re-estimates each pruned copy's BatchNorm statistics before it is scored (none by default,
    /// as AMC and NNI score).</param>
    /// <param name="filterScore">Ranks each producer's filters (<see cref="FilterScores"/>: L2, FPGM); null: L1.</param>
    public TaskPolicyScorer(TrainingTask task, Func<nn.Module<Tensor, Tensor>> factory, nn.Module<Tensor, Tensor> model, long[] inputShape,
        IBatchLoader heldOut, int roundTo = 1, IReadOnlyList<ModelEdit>? edits = null, BatchNormRecalibration? recalibration = null,
        Func<Tensor, double[]>? filterScore = null) : base(task, heldOut, recalibration)
    {
        this.filterScore = filterScore;
        this.factory = factory ?? throw new ArgumentNullException(nameof(factory));
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.inputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
        this.roundTo = roundTo;
        this.edits = edits ?? [];
    }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> PrunedCopy(IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(keptChannels);
        var copy = ModelCopy.Create(factory, inputShape, edits, model);
        try
        {
            Shrink(copy, inputShape, keptChannels, roundTo, filterScore);
            copy.eval();
            return copy;
        }
        catch
        {
            copy.Dispose();
            throw;
        }
    }

    /// <summary>Shrinks <paramref name="copy"/> in place to the policy (L1-selected channels per group); returns its cost after
    /// and the edits the shrink made (none when every group keeps all its channels).</summary>
    internal static (ModelCost Cost, IReadOnlyList<ModelEdit> Edits) Shrink(nn.Module<Tensor, Tensor> copy, long[] inputShape,
        IReadOnlyDictionary<string, int> keptChannels, int roundTo, Func<Tensor, double[]>? filterScore = null)
    {
        var editor = new ModelEditor(copy, inputShape, new ShrinkOptions { RoundTo = roundTo });
        var flags = Narrowed(editor.ChannelGroups, keptChannels)
            .ToDictionary(n => n.Group.Id, n => GroupChannelSelection.Select(copy, n.Group, n.Kept, filterScore));
        var cost = flags.Count > 0 ? editor.ShrinkChannels(flags).After : editor.Cost;
        return (cost, editor.Edits.ToList());
    }
}
