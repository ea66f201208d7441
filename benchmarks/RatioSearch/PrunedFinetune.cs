using Trainer.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Search;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>
/// Test accuracy of a policy before and after finetuning: L1-prunes a copy of the trained model to the kept counts (the
/// selection and shrink the search scorers use), scores it on the test set, trains it whole epochs on the training images
/// (SGD with the training's lr and momentum, the loader seeded with the run's seed, so every row of a seed sees the same
/// batches) and scores it again. The trained model is not changed. With a recalibration, the copy's BatchNorm statistics are
/// re-estimated before the first score, as the search's trials were.
/// </summary>
internal sealed class PrunedFinetune(HeldOutTask task, Func<nn.Module<Tensor, Tensor>> factory, nn.Module<Tensor, Tensor> model,
    long[] inputShape, IBatchLoader test, BatchNormRecalibration? recalibration = null)
{
    /// <summary>Test accuracy of the pruned copy before finetuning, and after <paramref name="epochs"/> epochs on
    /// <paramref name="train"/> (null when <paramref name="epochs"/> is 0).</summary>
    public (double Before, double? After) Run(IReadOnlyDictionary<string, int> kept, IBatchLoader train, int epochs, int seed)
    {
        using var copy = ModelCopy.Create(factory, inputShape, [], model);
        copy.eval();
        Shrink(copy, kept);
        // Scored as the searches scored it: with --bn-batches, its BatchNorm statistics re-estimated first.
        recalibration?.Apply(copy);
        double before = ClassificationAccuracy.Of(copy, test);
        if (epochs == 0) return (before, null);
        ShortTraining.Run(task, copy, train, new ShortTrainingOptions
        {
            Steps = 0, Epochs = epochs, LearningRate = BenchOptions.LearningRate, Momentum = BenchOptions.Momentum, Seed = seed,
        });
        return (before, ClassificationAccuracy.Of(copy, test));
    }

    // TaskPolicyScorer's shrink (internal to Core): per group, the kept channels of largest L1 norm summed over its producers.
    private void Shrink(nn.Module<Tensor, Tensor> copy, IReadOnlyDictionary<string, int> kept)
    {
        var editor = new ModelEditor(copy, inputShape, new ShrinkOptions { RoundTo = 1 });
        var groups = editor.ChannelGroups.ToDictionary(g => g.Id);
        var flags = new Dictionary<string, bool[]>();
        foreach (var (id, count) in kept)
        {
            if (!groups.TryGetValue(id, out var group)) throw new ArgumentException($"the policy names group '{id}', which the model does not have");
            if (count < group.Channels) flags[id] = GroupL1Selection.Select(copy, group, count);
        }
        if (flags.Count > 0) editor.ShrinkChannels(flags);
    }
}
