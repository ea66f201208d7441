using Trainer.Abstractions;
using Trainer.Core.Checkpoints;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Tests.Training;

/// <summary>A run killed at any point after a checkpoint and resumed ends as the unbroken run did: same stop, same report,
/// and the checkpoint pair is written in the order a crash between the two cannot break.</summary>
public class CrashResumeTrainingTests
{
    /// <summary>Asks to stop at the end of epoch <paramref name="epoch"/> (0-based), as early stopping does.</summary>
    private sealed class StopAfter(int epoch) : TrainerCallback
    {
        public override void OnEpochEnd(ITrainingContext context)
        {
            if (context.Epoch >= epoch) context.RequestStop($"asked to stop after epoch {epoch + 1}");
        }
    }

    private static (float[] Weights, TrainResult Result) Train(int epochs, string dir, bool resume = false, TrainerCallback? callback = null)
    {
        torch.manual_seed(5);
        var net = new SmallNet();
        var setup = Fixtures.Setup(net, settings: new TrainerSettings { Epochs = epochs }, checkpointDir: dir,
            callbacks: callback is null ? [] : [callback]);
        var result = new ClassificationTrainer(setup).Run(resume);
        return (Fixtures.Weights(net), result);
    }

    [Fact]
    public void A_finished_run_resumed_reports_what_the_unbroken_run_reported()
    {
        var dir = Fixtures.TempDir();
        var unbroken = Train(2, dir);
        var resumed = Train(2, dir, resume: true);     // e.g. killed after the last checkpoint, before its report

        Assert.Equal(unbroken.Weights, resumed.Weights);
        Assert.Equal(unbroken.Result.StopReason, resumed.Result.StopReason);
        Assert.Equal(unbroken.Result.EpochsCompleted, resumed.Result.EpochsCompleted);
        Assert.Equal(unbroken.Result.GlobalStep, resumed.Result.GlobalStep);
        Assert.Equal(unbroken.Result.BestMetric, resumed.Result.BestMetric);
        Assert.Equal(unbroken.Result.Metrics.OrderBy(m => m.Key), resumed.Result.Metrics.OrderBy(m => m.Key));
    }

    [Fact]
    public void A_run_a_callback_stopped_stays_stopped_when_resumed()
    {
        var dir = Fixtures.TempDir();
        var unbroken = Train(4, dir, callback: new StopAfter(1));
        Assert.Equal(2, unbroken.Result.EpochsCompleted);

        var resumed = Train(4, dir, resume: true, callback: new StopAfter(1));
        Assert.Equal(unbroken.Weights, resumed.Weights);                // no further epoch trained
        Assert.Equal(2, resumed.Result.EpochsCompleted);
        Assert.Equal("asked to stop after epoch 2", resumed.Result.StopReason);
        Assert.Equal(unbroken.Result.StopReason, resumed.Result.StopReason);
    }

    [Fact]
    public void The_best_checkpoint_is_written_before_the_last_one()
    {
        var dir = Fixtures.TempDir();
        // "last" cannot be written (a directory in its place): the write of "best" before it must have happened.
        Directory.CreateDirectory(Path.Combine(dir, "last.ckpt"));
        Assert.ThrowsAny<IOException>(() => Train(1, dir));
        var net = new SmallNet();
        var state = CheckpointFile.Load(Path.Combine(dir, "best.ckpt"), net, OptimizerFactory.Create(new OptimizerOptions(), net.parameters()));
        Assert.Equal(0, state.Epoch);
    }
}
