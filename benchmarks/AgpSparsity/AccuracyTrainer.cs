using Trainer.Abstractions;
using Trainer.Core.Training;

namespace Benchmarks.AgpSparsity;

/// <summary>The classification trainer, with its evaluation pass open to the benchmark (test accuracy without training).</summary>
internal sealed class AccuracyTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
{
    /// <summary>Accuracy of the network over one pass of <paramref name="loader"/>, in eval mode.</summary>
    public double Accuracy(IBatchLoader loader) => Evaluate(loader, "test")["test/accuracy"];
}
