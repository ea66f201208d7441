using System.Diagnostics;
using Trainer.Core.Data;
using Trainer.Core.Models;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Benchmarks.LoopOverhead;

/// <summary>The two loops being compared.</summary>
internal enum Variant { Trainer, Plain }

/// <summary>One timed round: samples trained, wall time, and the loss of the last step (a same-arithmetic check).</summary>
internal sealed record RoundResult(Variant Variant, long Samples, double Seconds, double LastLoss)
{
    public double SamplesPerSecond => Samples / Seconds;
}

/// <summary>
/// Runs one round of either variant on the same data: a fresh seeded <see cref="FashionCnn"/>, SGD
/// lr 0.01 momentum 0.9, and a shuffled seeded loader whose subset makes one epoch exactly
/// <c>steps</c> batches of 64. Only the training loop itself is timed.
/// </summary>
internal sealed class Variants(FashionMnistData data)
{
    public RoundResult Run(Variant variant, int steps)
    {
        using var loader = CreateLoader(steps);
        torch.manual_seed(BenchOptions.Seed);
        using var network = new FashionCnn();
        using var optimizer = OptimizerFactory.Create(
            new OptimizerOptions { Name = "sgd", LearningRate = BenchOptions.LearningRate, Momentum = BenchOptions.Momentum },
            network.parameters());
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return variant == Variant.Trainer ? RunTrainer(network, optimizer, loader) : RunPlain(network, optimizer, loader);
    }

    private TensorBatchLoader CreateLoader(int steps)
    {
        long total = data.TrainCount;
        long samples = (long)steps * BenchOptions.BatchSize;
        if (samples > total)
            throw new ArgumentException(
                $"--steps {steps} needs {samples} samples; the train set has {total} (at most {total / BenchOptions.BatchSize} steps).");
        var loader = data.TrainLoader(BenchOptions.BatchSize, BenchOptions.Seed, (double)samples / total);
        if (loader.BatchCount != steps || loader.SampleCount != samples)
        {
            loader.Dispose();
            throw new InvalidOperationException(
                $"Subset gave {loader.SampleCount} samples in {loader.BatchCount} batches; expected {samples} in {steps}.");
        }
        return loader;
    }

    /// <summary>Variant A: the project's loop, one epoch, no validation, no callbacks, no checkpoints.</summary>
    private static RoundResult RunTrainer(FashionCnn network, TorchSharp.Modules.OptimizerHelper optimizer, TensorBatchLoader loader)
    {
        var trainer = new ClassificationTrainer(new TrainerSetup
        {
            Network = network,
            TrainLoader = loader,
            Optimizer = optimizer,
            Settings = new TrainerSettings { Epochs = 1, MonitorMetric = "train/epoch_total_loss" },
            CheckpointDir = null,
        });
        var clock = Stopwatch.StartNew();
        var result = trainer.Run();
        var seconds = clock.Elapsed.TotalSeconds;
        if (result.GlobalStep != loader.BatchCount)
            throw new InvalidOperationException($"The trainer ran {result.GlobalStep} steps, expected {loader.BatchCount}.");
        return new RoundResult(Variant.Trainer, loader.SampleCount, seconds, result.Metrics["train/total_loss"]);
    }

    /// <summary>Variant B: a typical hand-written loop, reading the loss only every <see cref="BenchOptions.LogEvery"/> steps.</summary>
    private static RoundResult RunPlain(FashionCnn network, TorchSharp.Modules.OptimizerHelper optimizer, TensorBatchLoader loader)
    {
        var clock = Stopwatch.StartNew();
        network.train();
        double lastLoss = double.NaN;
        long samples = 0;
        var last = loader.BatchCount - 1;
        var step = 0;
        using var batches = loader.GetBatches(0).GetEnumerator();
        for (; ; step++)
        {
            // Opened before MoveNext, as in the trainer, so the batch tensors die with the step.
            using var scope = torch.NewDisposeScope();
            if (!batches.MoveNext()) break;
            var batch = batches.Current;
            var output = network.call(batch.Inputs);
            var loss = torch.nn.functional.cross_entropy(output, batch.Targets);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            samples += batch.Size;
            if (step % BenchOptions.LogEvery == 0 || step == last) lastLoss = loss.item<float>();
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return new RoundResult(Variant.Plain, samples, seconds, lastLoss);
    }
}
