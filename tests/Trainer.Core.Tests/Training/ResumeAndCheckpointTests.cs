using Trainer.Core.Callbacks;
using Trainer.Core.Checkpoints;
using Trainer.Core.Optimization;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Tests.Training;

public class ResumeAndCheckpointTests
{
    private static (float[] Weights, TrainResult Result) Train(int epochs, string? dir = null, bool resume = false, int seed = 3)
    {
        torch.manual_seed(seed);
        var net = new SmallNet();
        var setup = Fixtures.Setup(net, settings: new TrainerSettings { Epochs = epochs }, checkpointDir: dir, lr: 0.1,
            callbacks: [new EarlyStopping(new EarlyStoppingOptions(Patience: 100))]);
        var withSchedule = new TrainerSetup
        {
            Network = net, TrainLoader = setup.TrainLoader, ValLoader = setup.ValLoader, Optimizer = setup.Optimizer,
            Scheduler = new PlateauLrSchedule(setup.Optimizer, 0.5, patience: 0), Settings = setup.Settings,
            CheckpointDir = dir, Callbacks = setup.Callbacks,
        };
        if (resume) torch.manual_seed(seed + 1000); // a different generator state, which the checkpoint must restore
        var result = new ClassificationTrainer(withSchedule).Run(resume);
        return (Fixtures.Weights(net), result);
    }

    [Fact]
    public void The_same_seed_repeats_a_run_exactly()
    {
        Assert.Equal(Train(3).Weights, Train(3).Weights);
        Assert.NotEqual(Train(3).Weights, Train(3, seed: 4).Weights);
    }

    [Fact]
    public void One_epoch_then_resume_ends_with_the_same_weights_as_an_unbroken_run()
    {
        var dir = Fixtures.TempDir();
        var unbroken = Train(3);
        Train(1, dir);
        var resumed = Train(3, dir, resume: true);
        Assert.Equal(unbroken.Weights, resumed.Weights);
        Assert.Equal(unbroken.Result.GlobalStep, resumed.Result.GlobalStep);
        Assert.Equal(unbroken.Result.Metrics["lr"], resumed.Result.Metrics["lr"]);
        Assert.Equal(unbroken.Result.BestMetric, resumed.Result.BestMetric);
    }

    [Fact]
    public void A_corrupt_checkpoint_is_refused_and_left_unchanged()
    {
        var dir = Fixtures.TempDir();
        Train(1, dir);
        var path = Path.Combine(dir, "last.ckpt");
        var bytes = File.ReadAllBytes(path);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(path, bytes);

        var error = Assert.Throws<CheckpointException>(() => Train(2, dir, resume: true));
        Assert.Contains("corrupt", error.Message);
        Assert.Contains(path, error.Message);
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public void A_checkpoint_of_another_network_names_the_mismatched_tensor()
    {
        var dir = Fixtures.TempDir();
        Train(1, dir);
        var other = new SmallNet(features: 5);
        var error = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(Path.Combine(dir, "last.ckpt"), other,
            OptimizerFactory.Create(new OptimizerOptions(), other.parameters())));
        Assert.Contains("'fc1.weight' is [16,4] in the checkpoint but [16,5] in the network", error.Message);
    }

    [Fact]
    public void Best_checkpoint_holds_the_best_monitored_value()
    {
        var dir = Fixtures.TempDir();
        var (_, result) = Train(4, dir);
        var net = new SmallNet();
        var state = CheckpointFile.Load(Path.Combine(dir, "best.ckpt"), net,
            OptimizerFactory.Create(new OptimizerOptions(), net.parameters()));
        Assert.Equal(result.BestMetric, state.Metrics["val/total_loss"]);
    }

    [Fact]
    public void Resume_without_a_checkpoint_says_where_it_looked()
    {
        var dir = Fixtures.TempDir();
        var error = Assert.Throws<CheckpointException>(() => Train(2, dir, resume: true));
        Assert.Contains(Path.Combine(dir, "last.ckpt"), error.Message);
    }
}
