using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Tests.Training;

public class LoopBehaviourTests
{
    private sealed class NoTotalTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
    {
        protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor p, Batch b) =>
            new Dictionary<string, torch.Tensor> { ["ce"] = base.GetTrainLosses(p, b)[LossNames.Total] };
    }

    private sealed class NaNAtStepTrainer(TrainerSetup setup, long nanStep) : ClassificationTrainer(setup)
    {
        protected override IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor p, Batch b)
        {
            var loss = base.GetTrainLosses(p, b)[LossNames.Total];
            return new Dictionary<string, torch.Tensor>
            {
                [LossNames.Total] = Context.GlobalStep + 1 == nanStep ? loss * double.NaN : loss,
            };
        }
    }

    private sealed class MetricNamedLikeALossTrainer(TrainerSetup setup) : ClassificationTrainer(setup)
    {
        protected override IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor p, Batch b) =>
            new Dictionary<string, double> { [LossNames.Total] = 1 };
    }

    [Fact]
    public void A_validation_metric_named_like_a_loss_is_an_error_naming_both()
    {
        // Summed into one figure, "val/total_loss" would be the loss plus the metric: refused instead.
        var error = Assert.Throws<InvalidOperationException>(() => new MetricNamedLikeALossTrainer(Fixtures.Setup(new SmallNet())).Run());
        Assert.Contains("\"total_loss\"", error.Message);
        Assert.Contains("GetValBatchMetrics", error.Message);
        Assert.Contains("GetValLosses", error.Message);
    }

    [Fact]
    public void Missing_total_loss_is_an_error_naming_the_hook_and_the_keys()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new NoTotalTrainer(Fixtures.Setup(new SmallNet())).Run());
        Assert.Contains("GetTrainLosses", error.Message);
        Assert.Contains("[ce]", error.Message);
        Assert.Contains("total_loss", error.Message);
    }

    [Fact]
    public void Training_reduces_the_loss_and_reports_accuracy()
    {
        // The network's initial weights come from the global generator: seeded here, whatever ran before.
        torch.manual_seed(0);
        var result = new ClassificationTrainer(Fixtures.Setup(new SmallNet(), epochs: 30, lr: 0.1)).Run();
        Assert.Equal(30, result.EpochsCompleted);
        Assert.Equal(120, result.GlobalStep);
        Assert.Equal("reached the configured 30 epochs", result.StopReason);
        Assert.True(result.Metrics["val/accuracy"] >= 0.75, $"val/accuracy {result.Metrics["val/accuracy"]}");
        Assert.True(result.Metrics["train/epoch_total_loss"] < 0.8, $"loss {result.Metrics["train/epoch_total_loss"]}");
    }

    [Fact]
    public void A_NaN_loss_stops_with_epoch_and_step_and_keeps_the_last_checkpoint()
    {
        var dir = Fixtures.TempDir();
        var trainer = new NaNAtStepTrainer(Fixtures.Setup(new SmallNet(), epochs: 3, checkpointDir: dir), nanStep: 6);
        var error = Assert.Throws<NonFiniteLossException>(() => trainer.Run());
        Assert.Equal(1, error.Epoch);
        Assert.Equal(6, error.GlobalStep);
        Assert.Contains("epoch 2, batch 2", error.Message);
        Assert.Contains("last.ckpt", error.Message);
        var state = Checkpoints.CheckpointFile.Load(trainer.LastCheckpointPath!, new SmallNet(),
            OptimizerFactory.Create(new OptimizerOptions(), new SmallNet().parameters()));
        Assert.Equal(0, state.Epoch);
        Assert.Equal(4, state.GlobalStep);
    }

    [Fact]
    public void MaxSteps_stops_mid_epoch_after_validating()
    {
        var result = new ClassificationTrainer(Fixtures.Setup(new SmallNet(),
            settings: new TrainerSettings { Epochs = 5, MaxSteps = 6 })).Run();
        Assert.Equal(6, result.GlobalStep);
        Assert.Equal(2, result.EpochsCompleted);
        Assert.Equal("reached the configured 6 steps", result.StopReason);
        Assert.True(result.Metrics.ContainsKey("val/accuracy"));
    }

    [Fact]
    public void StopLr_stops_when_the_schedule_takes_the_rate_below_it()
    {
        var net = new SmallNet();
        var setup = Fixtures.Setup(net, settings: new TrainerSettings { Epochs = 10, StopLr = 0.01 }, lr: 0.1);
        var schedule = new StepLrSchedule(setup.Optimizer, stepSize: 2, gamma: 0.1);
        var result = new ClassificationTrainer(new TrainerSetup
        {
            Network = net, TrainLoader = setup.TrainLoader, ValLoader = setup.ValLoader, Optimizer = setup.Optimizer,
            Scheduler = schedule, Settings = setup.Settings,
        }).Run();
        // lr 0.1 (epochs 1-2), 0.01 (3-4), 0.001 after epoch 4: below 0.01, so it stops there.
        Assert.Equal(4, result.EpochsCompleted);
        Assert.StartsWith("learning rate 0.001", result.StopReason);
    }

    [Fact]
    public void Early_stopping_counts_validation_checks_and_logs_why()
    {
        // Learning rate 0: the validation loss never changes, so patience 2 stops after epoch 3.
        var stopper = new EarlyStopping(new EarlyStoppingOptions("val/total_loss", MetricMode.Min, Patience: 2));
        var result = new ClassificationTrainer(Fixtures.Setup(new SmallNet(), epochs: 10, lr: 0, callbacks: [stopper])).Run();
        Assert.Equal(3, result.EpochsCompleted);
        Assert.StartsWith("early stopping: val/total_loss did not improve", result.StopReason);
    }

    [Fact]
    public void Early_stopping_on_an_unknown_metric_lists_the_logged_ones()
    {
        var stopper = new EarlyStopping(new EarlyStoppingOptions("val/acc"));
        var error = Assert.Throws<InvalidOperationException>(() =>
            new ClassificationTrainer(Fixtures.Setup(new SmallNet(), callbacks: [stopper])).Run());
        Assert.Contains("'val/acc'", error.Message);
        Assert.Contains("val/accuracy", error.Message);
        Assert.Contains("val/total_loss", error.Message);
    }

    [Fact]
    public void Every_step_releases_its_tensors()
    {
        static long LiveAfter(int epochs)
        {
            var trainer = new ClassificationTrainer(Fixtures.Setup(new SmallNet(), epochs: epochs));
            var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            trainer.Run();
            return DisposeScopeManager.Statistics.ThreadTotalLiveCount - before;
        }
        LiveAfter(1);
        var few = LiveAfter(2);
        var many = LiveAfter(20);
        Assert.Equal(few, many);
    }
}

public class GradientClippingTests
{
    [Fact]
    public void Clipping_bounds_the_update_of_one_plain_SGD_step()
    {
        static double StepNorm(double clip)
        {
            torch.manual_seed(5); // both runs get the same weights and dropout masks
            var net = new SmallNet();
            var before = Fixtures.Weights(net);
            var optimizer = OptimizerFactory.Create(new OptimizerOptions { LearningRate = 1.0, Momentum = 0 }, net.parameters());
            new ClassificationTrainer(new TrainerSetup
            {
                Network = net, TrainLoader = new FixedBatchLoader(1, 8), ValLoader = new FixedBatchLoader(1, 8),
                Optimizer = optimizer, Settings = new TrainerSettings { Epochs = 1, GradientClipNorm = clip },
            }).Run();
            var after = Fixtures.Weights(net);
            return Math.Sqrt(before.Zip(after, (a, b) => (double)(a - b) * (a - b)).Sum());
        }
        Assert.True(StepNorm(0) > 0.05, "an unclipped step moves the weights");
        Assert.Equal(0.01, StepNorm(0.01), 4);
    }
}
