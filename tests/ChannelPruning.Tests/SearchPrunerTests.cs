using Plugins.ChannelPruning;
using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>Channel pruning as a search's trial pruner (Search:Pruner = channel-pruning): the policy's counts are kept
/// exactly, and LASSO selection with least-squares reconstruction keeps more of the model's behaviour than L1 selection
/// alone (its outputs stay closer to the unpruned model's), which is what a search scoring unfinetuned copies sees.</summary>
public sealed class SearchPrunerTests(ITestOutputHelper output)
{
    [Fact]
    public void Lasso_with_reconstruction_keeps_the_outputs_closer_to_the_models_than_l1_at_the_same_policy()
    {
        using var _ = NewDisposeScope();
        manual_seed(5);
        var model = new FashionCnn();
        model.eval();
        Tensor Labels(Tensor x)
        {
            using (no_grad()) return model.call(x);
        }
        var trainInputs = randn(256, 1, 28, 28);
        var heldInputs = randn(192, 1, 28, 28);
        var train = new TensorBatchLoader(trainInputs, Labels(trainInputs), 32, shuffle: false);
        var heldOut = new TensorBatchLoader(heldInputs, Labels(heldInputs), 64, shuffle: false);
        using var task = new OutputErrorTask();
        var kept = new Dictionary<string, int> { ["conv1"] = 16, ["conv2"] = 24, ["conv3"] = 40, ["fc1"] = 96 };

        var l1 = new TaskPolicyScorer(task, () => new FashionCnn(), model, [1, 1, 28, 28], heldOut).Score(kept);
        var lassoScorer = new CompressorPolicyScorer(task, new ChannelPruningCompressor(),
            new Dictionary<string, string> { ["method"] = "lasso", ["trainset_ratio"] = "0.5" }, () => new FashionCnn(), model, [1, 1, 28, 28], train, heldOut);
        var lasso = lassoScorer.Score(kept);
        // Lower-is-better scores reach a search negated: -MSE to the unpruned model's outputs on held-out inputs.
        output.WriteLine($"held-out output error: l1 {-l1.Score:G4}, lasso + reconstruction {-lasso.Score:G4}");

        Assert.Equal(l1.Parameters, lasso.Parameters);
        Assert.True(-lasso.Score < 0.7 * -l1.Score, $"lasso {-lasso.Score}, l1 {-l1.Score}");
        using var copy = lassoScorer.PrunedCopy(kept);
        Assert.Equal([16L, 24, 40, 96], new[] { "conv1", "conv2", "conv3", "fc1" }.Select(n =>
            copy.named_parameters().Single(p => p.name == $"{n}.weight").parameter.shape[0]));
    }

    /// <summary>Mean squared error to the outputs the loader holds (the unpruned model's), lower is better.</summary>
    private sealed class OutputErrorTask : TrainingTask
    {
        public override string Name => "output-error";
        public override TaskScore Score => new("output_mse", ScoreDirection.LowerIsBetter);
        public override long[] ExampleInputShape => [1, 1, 28, 28];
        public override void Configure(TaskContext context) { }
        public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
        public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
        public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);
        protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data)
        {
            double sum = 0;
            long count = 0;
            using var _ = no_grad();
            foreach (var batch in data.GetBatches(0))
                using (NewDisposeScope())
                {
                    sum += nn.functional.mse_loss(model.call(batch.Inputs), batch.Targets, TorchSharp.torch.nn.Reduction.Sum).item<float>();
                    count += batch.Targets.numel();
                }
            return sum / count;
        }
    }
}
