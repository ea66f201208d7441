using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>Top-1 accuracy on whatever loader it is given: the search scores on held-out training images through it.</summary>
internal sealed class HeldOutTask : TrainingTask
{
    public override string Name => "fashion-held-out";
    public override TaskScore Score => TaskScore.Accuracy;
    public override long[] ExampleInputShape => [1, 1, 28, 28];
    public override void Configure(TaskContext context) { }
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException("scoring only");
    public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException("scoring only");
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => ClassificationAccuracy.Of(model, data);
}
