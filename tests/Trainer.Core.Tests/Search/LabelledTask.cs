using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

/// <summary>Accuracy on whatever loader it is given; nothing to train (the scorers' tests score copies with it).</summary>
internal sealed class LabelledTask : TrainingTask
{
    public override string Name => "labelled";
    public override TaskScore Score => TaskScore.Accuracy;
    public override long[] ExampleInputShape => SearchFixtures.FashionShape;
    public override void Configure(TaskContext context) { }
    public override IBatchLoader TrainLoader(int batchSize, long seed, double subsetRatio) => throw new NotSupportedException();
    public override IBatchLoader ValidationLoader(int batchSize) => throw new NotSupportedException();
    public override BaseTrainer CreateTrainer(TrainerSetup setup) => new ClassificationTrainer(setup);
    protected override double Evaluate(nn.Module<Tensor, Tensor> model, IBatchLoader data) => ClassificationAccuracy.Of(model, data);
}
