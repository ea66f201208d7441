using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Data;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Benchmarks.FashionCompression;

/// <summary>Accuracy and cost of the unpruned model.</summary>
internal sealed record Measurement(double Accuracy, long Macs, long Params);

/// <summary>The data and the train/evaluate steps every row of the benchmark shares.</summary>
internal sealed class BenchSession(FashionMnistData data, ILogger logger)
{
    private readonly TensorBatchLoader test = data.TestLoader(256);

    /// <summary>Training batches the compressors sample (shuffled with the benchmark's seed).</summary>
    public IBatchLoader CalibrationData { get; } = data.TrainLoader(BenchOptions.BatchSize, BenchOptions.Seed);

    /// <summary>Trains <paramref name="model"/> in place with SGD (momentum 0.9, batch 64, seed 0); with
    /// <paramref name="checkpointDir"/>, the trainer writes its checkpoints there (reusable with --checkpoint).</summary>
    public void Train(nn.Module<Tensor, Tensor> model, int epochs, double learningRate, string? checkpointDir = null)
    {
        if (epochs == 0) return;
        using var train = data.TrainLoader(BenchOptions.BatchSize, BenchOptions.Seed);
        var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = learningRate, Momentum = BenchOptions.Momentum },
            model.parameters());
        var result = new ClassificationTrainer(new TrainerSetup
        {
            Network = model,
            TrainLoader = train,
            ValLoader = test,
            Optimizer = optimizer,
            Settings = new TrainerSettings { Epochs = epochs, MonitorMetric = "val/accuracy", MonitorMode = MetricMode.Max },
            Callbacks = [new ProgressCallback(logger, train.BatchCount, logEveryNBatches: 200, live: false)],
            CheckpointDir = checkpointDir,
            Logger = logger,
        }).Run();
        logger.LogInformation("Trained {Epochs} epoch(s) at lr {Lr}: test accuracy {Accuracy:0.0000}", epochs, learningRate, result.Metrics["val/accuracy"]);
    }

    /// <summary>Top-1 accuracy on the 10 000 test images.</summary>
    public double TestAccuracy(nn.Module<Tensor, Tensor> model) => ClassificationAccuracy.Of(model, test);

    /// <summary>Accuracy and cost of <paramref name="model"/>.</summary>
    public Measurement Measure(nn.Module<Tensor, Tensor> model)
    {
        var cost = EditorFactory.Cost(model);
        return new Measurement(TestAccuracy(model), cost.Macs, cost.Params);
    }
}
