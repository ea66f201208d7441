using Trainer.Abstractions;
using Trainer.Core.Search;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>
/// Test accuracy of a policy before and after finetuning: prunes a copy of the trained model to the kept counts with the
/// pruner the searches' trials used (<see cref="IPolicyPruner"/>: L1 selection, or channel-pruning's LASSO and
/// reconstruction), scores it on the test set, trains it whole epochs on the training images (SGD with the training's lr
/// and momentum, the loader seeded with the run's seed, so every row of a seed sees the same batches) and scores it again.
/// The trained model is not changed. With a recalibration, the copy's BatchNorm statistics are re-estimated before the
/// first score, as the search's trials were.
/// </summary>
internal sealed class PrunedFinetune(HeldOutTask task, IPolicyPruner pruner, IBatchLoader test, BatchNormRecalibration? recalibration = null,
    bool cosine = false)
{
    /// <summary>Test accuracy of the pruned copy before finetuning, and after <paramref name="epochs"/> epochs on
    /// <paramref name="train"/> (null when <paramref name="epochs"/> is 0).</summary>
    public (double Before, double? After) Run(IReadOnlyDictionary<string, int> kept, IBatchLoader train, int epochs, int seed)
    {
        using var copy = pruner.PrunedCopy(kept);
        // Scored as the searches scored it: with --bn-batches, its BatchNorm statistics re-estimated first.
        recalibration?.Apply(copy);
        double before = ClassificationAccuracy.Of(copy, test);
        if (epochs == 0) return (before, null);
        if (cosine)
        {
            CosineFinetune(copy, train, epochs, seed);
            return (before, ClassificationAccuracy.Of(copy, test));
        }
        ShortTraining.Run(task, copy, train, new ShortTrainingOptions
        {
            Steps = 0, Epochs = epochs, LearningRate = BenchOptions.LearningRate, Momentum = BenchOptions.Momentum, Seed = seed,
        });
        return (before, ClassificationAccuracy.Of(copy, test));
    }

    /// <summary>--finetune-schedule cosine: the same SGD and batches, the learning rate annealed per step from the training's to
    /// 0 over the finetuning (PyTorch's CosineAnnealingLR stepped per batch), so the score is the end of a schedule rather than
    /// one constant-rate step's snapshot.</summary>
    private static void CosineFinetune(nn.Module<Tensor, Tensor> model, IBatchLoader train, int epochs, int seed)
    {
        manual_seed(seed);
        var optimizer = optim.SGD(model.parameters(), BenchOptions.LearningRate, BenchOptions.Momentum);
        long steps = (long)epochs * train.BatchCount, step = 0;
        model.train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            using var batches = train.GetBatches(epoch).GetEnumerator();
            while (true)
            {
                // The scope opens before the batch is read, so its tensors go with the step's (as in the trainer's loop).
                using var scope = NewDisposeScope();
                if (!batches.MoveNext()) break;
                foreach (var group in optimizer.ParamGroups)
                    group.LearningRate = BenchOptions.LearningRate * (1 + Math.Cos(Math.PI * step / steps)) / 2;
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.call(batches.Current.Inputs), batches.Current.Targets);
                loss.backward();
                optimizer.step();
                step++;
            }
        }
        model.eval();
    }
}
