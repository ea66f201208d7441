using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

/// <summary>Adaptive BatchNorm for scoring pruned copies: the running statistics become the mean of the first N training
/// batches' statistics, nothing else of the model changes, and the policy scorer applies it to each copy it scores.</summary>
public sealed class BatchNormRecalibrationTests
{
    private static nn.Module<Tensor, Tensor> Net()
    {
        manual_seed(5);
        return nn.Sequential(("conv", nn.Conv2d(2, 3, 1)), ("drop", nn.Dropout(0.5)), ("bn", nn.BatchNorm2d(3)), ("relu", nn.ReLU()));
    }

    [Fact]
    public void The_statistics_become_the_mean_of_the_first_batches_statistics_with_dropout_off_and_nothing_else_changed()
    {
        using var scope = NewDisposeScope();
        var model = Net();
        var bn = (BatchNorm2d)model.named_modules().First(m => m.name == "bn").module;
        bn.running_mean = full(3, 7.0f);
        bn.running_var = full(3, 9.0f);
        var inputs = randn([12, 2, 4, 4], generator: new Generator(3));
        var loader = new TensorBatchLoader(inputs, zeros(12, ScalarType.Int64), 4, shuffle: false);
        var conv = model.named_modules().First(m => m.name == "conv").module;
        var weights = model.state_dict().Where(p => !p.Key.StartsWith("bn.running") && !p.Key.EndsWith("num_batches_tracked"))
            .ToDictionary(p => p.Key, p => p.Value.clone());

        Assert.Equal(1, new BatchNormRecalibration(loader, Batches: 2).Apply(model));

        // The first two batches of 4 only (the third never seen); dropout off, so the conv's own outputs: per batch the
        // channel mean and the unbiased variance (what BatchNorm's running_var tracks), averaged over the two batches.
        Tensor out1, out2;
        using (no_grad())
        {
            out1 = ((nn.Module<Tensor, Tensor>)conv).call(inputs[..4]).to(float64);
            out2 = ((nn.Module<Tensor, Tensor>)conv).call(inputs[4..8]).to(float64);
        }
        long[] dims = [0, 2, 3];
        var mean = (out1.mean(dims) + out2.mean(dims)) / 2;
        var variance = (out1.var(dims, unbiased: true) + out2.var(dims, unbiased: true)) / 2;
        Assert.True(bn.running_mean!.to(float64).allclose(mean, rtol: 1e-5, atol: 1e-6), bn.running_mean!.ToString(TorchSharp.TensorStringStyle.Julia));
        Assert.True(bn.running_var!.to(float64).allclose(variance, rtol: 1e-5, atol: 1e-6), bn.running_var!.ToString(TorchSharp.TensorStringStyle.Julia));
        Assert.False(model.training);
        Assert.False(bn.training);
        Assert.Equal(0.1, bn.momentum);
        foreach (var (name, value) in weights) Assert.True(model.state_dict()[name].eq(value).all().item<bool>(), name);
    }

    [Fact]
    public void The_policy_scorer_recalibrates_each_copy_it_scores_and_leaves_the_model_alone()
    {
        using var scope = NewDisposeScope();
        var model = Net();
        var bn = (BatchNorm2d)model.named_modules().First(m => m.name == "bn").module;
        bn.running_mean = full(3, 7.0f);
        model.eval();
        var inputs = randn([8, 2, 4, 4], generator: new Generator(4));
        var loader = new TensorBatchLoader(inputs, zeros(8, ScalarType.Int64), 4, shuffle: false);
        using var task = new RunningMeanTask();
        long[] shape = [1, 2, 4, 4];
        var all = new Dictionary<string, int> { ["conv"] = 3 };

        var plain = new TaskPolicyScorer(task, Net, model, shape, loader).Score(all).Score;
        var recalibrated = new TaskPolicyScorer(task, Net, model, shape, loader, recalibration: new BatchNormRecalibration(loader, 2)).Score(all).Score;

        Assert.Equal(21.0, plain, 4);   // the copy's stale statistics: 3 × 7
        var copy = Net();
        copy.load_state_dict(model.state_dict());
        new BatchNormRecalibration(loader, 2).Apply(copy);
        var expected = ((BatchNorm2d)copy.named_modules().First(m => m.name == "bn").module).running_mean!.sum().item<float>();
        Assert.Equal(expected, recalibrated, 5);
        Assert.NotEqual(plain, recalibrated, 1);
        Assert.Equal(7.0f, bn.running_mean![0].item<float>());
    }

    /// <summary>Scores a model by the sum of its BatchNorm's running mean: what the scorer left in the copy it scored.</summary>
    private sealed class RunningMeanTask : TrainingTask
    {
        public override string Name => "running-mean";
        public override TaskScore Score => TaskScore.Accuracy;
        public override long[] ExampleInputShape => [1, 2, 4, 4];
        public override void Configure(TaskContext context) { }
        public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
        public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
        public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);
        protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) =>
            ((BatchNorm2d)model.named_modules().First(m => m.name == "bn").module).running_mean!.sum().item<float>();
    }
}
