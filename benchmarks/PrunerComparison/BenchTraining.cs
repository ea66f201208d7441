using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Callbacks;
using Trainer.Core.Data;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Benchmarks.PrunerComparison;

/// <summary>The benchmark's task: Fashion-MNIST batches, SGD training (momentum 0.9, batch 64, seed 0) and test accuracy.</summary>
/// <remarks>Every training (the model's, the pruners', the finetuning) reads the same <c>subset</c> of the training images.</remarks>
internal sealed class BenchTraining(FashionMnistData data, double subset, ILogger logger)
{
    private readonly TensorBatchLoader test = data.TestLoader(256);

    /// <summary>Training batches the compressors sample.</summary>
    public IBatchLoader Calibration { get; } = data.TrainLoader(Options.BatchSize, Options.Seed, subset);

    /// <summary>Trains <paramref name="model"/> for whole epochs.</summary>
    public void Train(nn.Module<Tensor, Tensor> model, int epochs, double learningRate)
    {
        if (epochs > 0) Run(model, new TaskTraining { Epochs = epochs }, learningRate);
    }

    /// <summary>What the pruners' <see cref="CompressionRequest.Train"/> runs: the same loop at the training rate, with their
    /// loss terms and callbacks, for the epochs or steps they ask.</summary>
    public void Run(nn.Module<Tensor, Tensor> model, TaskTraining training, double learningRate = Options.LearningRate)
    {
        using var train = data.TrainLoader(Options.BatchSize, Options.Seed, subset);
        var epochs = training.MaxSteps > 0 ? Math.Max(1, (training.MaxSteps + train.BatchCount - 1) / train.BatchCount) : training.Epochs;
        var optimizer = OptimizerFactory.Create(new OptimizerOptions { Name = "sgd", LearningRate = learningRate, Momentum = Options.Momentum },
            model.parameters());
        var result = new ClassificationTrainer(new TrainerSetup
        {
            Network = model,
            TrainLoader = train,
            Optimizer = optimizer,
            Settings = new TrainerSettings { Epochs = epochs, MaxSteps = training.MaxSteps, MonitorMetric = "train/epoch_total_loss" },
            LossHooks = training.LossHooks,
            Callbacks = [new ProgressCallback(logger, train.BatchCount, logEveryNBatches: 300, live: false), .. training.Callbacks],
            Logger = logger,
        }).Run();
        logger.LogInformation("Trained {Epochs} epoch(s) ({Steps} steps asked) at lr {Lr}: {Reason}", result.EpochsCompleted, training.MaxSteps,
            learningRate, result.StopReason);
    }

    /// <summary>Top-1 accuracy on the 10 000 test images.</summary>
    public double TestAccuracy(nn.Module<Tensor, Tensor> model) => ClassificationAccuracy.Of(model, test);
}
