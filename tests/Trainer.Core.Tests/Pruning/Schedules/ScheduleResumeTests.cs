using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

public class ScheduleResumeTests
{
    /// <summary>A lottery ticket on fc1 and an AGP schedule by steps on fc2, with a checkpoint folder.</summary>
    private static (float[][] Masks, float[][] Origs, LotteryTicket Ticket) Train(int epochs, string? dir, bool resume = false)
    {
        torch.manual_seed(9);
        var net = new SmallNet();
        var fc1 = Child(net, "fc1");
        var fc2 = Child(net, "fc2");
        var ticket = new LotteryTicket([(fc1, "weight"), (fc1, "bias")], new LotteryTicketOptions(0.3, Rounds: 3, EpochsPerRound: 1, RewindStep: 1));
        var agp = new ScheduledPruning([(fc2, "weight")], new ScheduledPruningOptions(SparsitySchedule.Agp(0.9, start: 2, end: 14, frequency: 3), ScheduleUnit.Step));
        if (resume) torch.manual_seed(1234); // the checkpoint must restore the generator, the weights and the masks
        new ClassificationTrainer(Fixtures.Setup(net, epochs: epochs, checkpointDir: dir, callbacks: [ticket, agp])).Run(resume);
        (nn.Module, string)[] all = [(fc1, "weight"), (fc1, "bias"), (fc2, "weight")];
        return (all.Select(t => Values(Mask(t.Item1, t.Item2))).ToArray(), all.Select(t => Values(Orig(t.Item1, t.Item2))).ToArray(), ticket);
    }

    [Fact]
    public void A_run_interrupted_and_resumed_ends_with_the_same_masks_and_weights_as_an_unbroken_run()
    {
        var unbroken = Train(4, null);
        var dir = Fixtures.TempDir();
        var first = Train(2, dir);
        Assert.Equal(2, first.Ticket.RoundsDone);
        var resumed = Train(4, dir, resume: true);
        Assert.Equal(3, resumed.Ticket.RoundsDone);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(unbroken.Masks[i], resumed.Masks[i]);
            Assert.Equal(unbroken.Origs[i], resumed.Origs[i]);
        }
        // Sanity: the run did prune (fc2 at 0.9 of 48 entries → 43; fc1.weight 64 → 19, 45·0.3=13.5 → 14: 33, 31·0.3 → 9: 42).
        Assert.Equal(43, unbroken.Masks[2].Count(m => m == 0));
        Assert.Equal(42, unbroken.Masks[0].Count(m => m == 0));
        Assert.NotEqual(first.Masks[0], resumed.Masks[0]);
    }

    [Fact]
    public void Two_named_schedules_keep_separate_checkpoint_states()
    {
        var dir = Fixtures.TempDir();
        (ScheduledPruning A, ScheduledPruning B) Run(bool resume)
        {
            torch.manual_seed(2);
            var net = new SmallNet();
            var a = new ScheduledPruning([(Child(net, "fc1"), "weight")], new ScheduledPruningOptions(
                SparsitySchedule.Linear(0.5, start: 1, end: 3), ScheduleUnit.Step, Name: "fc1"));
            var b = new ScheduledPruning([(Child(net, "fc2"), "weight")], new ScheduledPruningOptions(
                SparsitySchedule.Agp(0.5, start: 2, end: 6, frequency: 2), ScheduleUnit.Step, Name: "fc2"));
            new ClassificationTrainer(Fixtures.Setup(net, epochs: 2, checkpointDir: dir, callbacks: [a, b])).Run(resume);
            return (a, b);
        }
        var first = Run(resume: false);
        Assert.NotEqual(first.A.StateKey, first.B.StateKey);
        // The resumed run has nothing left to train; it only loads each callback's own state.
        var resumed = Run(resume: true);
        Assert.Equal(3, resumed.A.LastPrunedAt);
        Assert.Equal(6, resumed.B.LastPrunedAt);
    }
}
