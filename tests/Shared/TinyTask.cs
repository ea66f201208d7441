using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Tests.Shared;

// A task of the tests' own, compiled into each test project that drives Core's sessions from code (linked, not copied).

/// <summary>5 classes of 8x8 RGB inputs whose label is the channel-mean pattern's argmax: learnable in an epoch or two.</summary>
internal sealed class TinyTask : TrainingTask
{
    private Tensor? _x, _y, _vx, _vy;

    public override string Name => "tiny";
    public override TaskScore Score { get; } = new("error", ScoreDirection.LowerIsBetter);
    public override long[] ExampleInputShape => [1, 3, 8, 8];

    public override void Configure(TaskContext context)
    {
        using var gen = new Generator(7);
        (_x, _y) = Make(256, gen);
        (_vx, _vy) = Make(128, gen);

        static (Tensor, Tensor) Make(int n, Generator gen)
        {
            var x = randn([n, 3, 8, 8], generator: gen);
            var y = x.mean([1, 2]).narrow(1, 0, 5).argmax(1);
            return (x.DetachFromDisposeScope(), y.DetachFromDisposeScope());
        }
    }

    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) =>
        new TensorBatchLoader(_x!, _y!, batchSize, shuffle: true, seed, subsetRatio: subsetRatio);

    public override IBatchLoader ValidationLoader(int batchSize) => new TensorBatchLoader(_vx!, _vy!, batchSize, shuffle: false);

    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ErrorTrainer(setup);

    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => 1 - ClassificationAccuracy.Of(model, data);

    protected override void Dispose(bool disposing)
    {
        foreach (var t in new[] { _x, _y, _vx, _vy }) t?.Dispose();
    }
}

/// <summary>The user's trainer: cross-entropy, and the task's score logged under its own name.</summary>
internal sealed class ErrorTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
{
    protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(Tensor predictions, Batch batch) =>
        new Dictionary<string, double> { ["error"] = 1 - base.GetValBatchMetrics(predictions, batch)["accuracy"] };
}
