using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Tasks;

/// <summary>A model that cannot take a task's inputs is refused before any work, naming what disagrees.</summary>
public sealed class ExampleInputCheckTests
{
    private sealed class VectorTask(long features) : TrainingTask
    {
        public override string Name => "vectors";
        public override TaskScore Score => new("mse", ScoreDirection.LowerIsBetter);
        public override long[] ExampleInputShape => [1, features];
        public override void Configure(TaskContext context) { }
        public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
        public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
        public override BaseTrainer CreateTrainer(TrainerSetup setup) => throw new NotSupportedException();
        protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => 0;
    }

    private static nn.Module<Tensor, Tensor> TwoLayers(long inputs) =>
        nn.Sequential(("fc1", nn.Linear(inputs, 8)), ("act", nn.ReLU()), ("fc2", nn.Linear(8, 1)));

    [Fact]
    public void A_model_that_takes_the_tasks_input_passes()
    {
        using var task = new VectorTask(6);
        using var model = TwoLayers(6);
        ExampleInputCheck.Ensure(model, "mlp", [1, 6], task);
    }

    [Fact]
    public void A_layer_that_rejects_the_example_input_is_named_with_the_shape_it_got_and_the_shape_it_takes()
    {
        using var task = new VectorTask(6);
        using var model = TwoLayers(5);

        var e = Assert.Throws<ArgumentException>(() => ExampleInputCheck.Ensure(model, "mlp", [1, 6], task));

        Assert.Contains("'mlp' does not take the task 'vectors''s example input [1,6]", e.Message);
        Assert.Contains("layer 'fc1' (Linear) failed on input [1,6]; it takes [..., 5]", e.Message);
    }

    [Fact]
    public void A_model_set_up_for_another_input_shape_is_refused_naming_both_shapes()
    {
        using var task = new VectorTask(6);
        using var model = TwoLayers(6);

        var e = Assert.Throws<ArgumentException>(() => ExampleInputCheck.Ensure(model, "mlp", [1, 7], task));

        Assert.Contains("gives inputs of shape [N,6], but 'mlp' is set up for [1,7]", e.Message);
    }

    [Fact]
    public void A_conv_names_the_input_channels_it_takes()
    {
        using var task = new VectorTask(0);
        using var conv = nn.Sequential(("stem", nn.Conv2d(3, 4, 3)));
        var shape = new long[] { 1, 1, 8, 8 };

        var e = Assert.Throws<Trainer.Core.Analysis.ModelAnalysisException>(() => Trainer.Core.Analysis.FlopsCounter.Count(conv, shape));

        Assert.StartsWith("layer 'stem' (Conv2d) failed on input [1,1,8,8]; it takes [N,3,*,*]", e.Message);
    }
}
