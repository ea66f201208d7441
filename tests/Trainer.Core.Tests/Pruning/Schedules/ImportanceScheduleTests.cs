using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>Scheduled and lottery-ticket pruning with every channel criterion (NNI's pruners) on <see cref="TinyBnNet"/>.</summary>
public class ImportanceScheduleTests
{
    private const int Batches = 4, Window = 2;

    private static ImportanceOptions Options(ImportanceCriterion criterion, TinyBnNet net) => new()
    {
        Criterion = criterion, TrainingSteps = Window, BatchesPerEpoch = Batches, Network = net, InputShape = [1, 4], SlimLambda = 0.01,
    };

    /// <summary>
    /// Pruning at the ends of epochs 0, 1 and 2 (counter 1, 2, 3) towards 6 of the 8 conv filters: AGP gives
    /// round(8 · 0.75 · (1 − (1 − t/3)³)) = 4, 6, 6 pruned filters; linear gives round(8 · 0.25 t) = 2, 4, 6.
    /// </summary>
    [Theory]
    [InlineData("l1-norm", "agp", new[] { 4, 6, 6 })]
    [InlineData("l2-norm", "linear", new[] { 2, 4, 6 })]
    [InlineData("fpgm", "agp", new[] { 4, 6, 6 })]
    [InlineData("fpgm", "linear", new[] { 2, 4, 6 })]
    [InlineData("slim", "agp", new[] { 4, 6, 6 })]
    [InlineData("slim", "linear", new[] { 2, 4, 6 })]
    [InlineData("apoz", "agp", new[] { 4, 6, 6 })]
    [InlineData("apoz", "linear", new[] { 2, 4, 6 })]
    [InlineData("mean-activation", "agp", new[] { 4, 6, 6 })]
    [InlineData("mean-activation", "linear", new[] { 2, 4, 6 })]
    [InlineData("taylor-fo", "agp", new[] { 4, 6, 6 })]
    [InlineData("taylor-fo", "linear", new[] { 2, 4, 6 })]
    public void Each_pruning_point_prunes_the_scheduled_count_of_filters_that_the_criterion_ranks_lowest_on_the_collected_statistics(
        string pruner, string shape, int[] expectedPruned)
    {
        torch.manual_seed(11);
        var net = new TinyBnNet();
        var conv = Child(net, "conv");
        (nn.Module, string)[] targets = [(conv, "weight")];
        var criterion = ImportanceCriteria.Find(pruner)!.Value;
        var schedule = shape == "agp" ? SparsitySchedule.Agp(0.75, start: 0, end: 3) : SparsitySchedule.Linear(0.75, start: 0, end: 3);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(schedule, ScheduleUnit.Epoch, Importance: Options(criterion, net)));
        using var scores = new ScoreProbe(net, criterion, Window, Batches);
        var masks = new MaskProbe(targets);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 4, callbacks: [scores, pruning, masks], lossHooks: pruning.LossHooks)).Run();

        for (int epoch = 0; epoch < 3; epoch++)
        {
            var (score, aliveBefore) = scores.EpochEnds[epoch];
            var aliveAfter = Channels(masks.EpochEnds[epoch].Masks[0]);
            Assert.Equal(expectedPruned[epoch], aliveAfter.Count(a => !a));
            var pruned = Enumerable.Range(0, 8).Where(c => aliveBefore[c] && !aliveAfter[c]).ToArray();
            var kept = Enumerable.Range(0, 8).Where(c => aliveAfter[c]).ToArray();
            Assert.Equal(expectedPruned[epoch] - aliveBefore.Count(a => !a), pruned.Length);
            Assert.All(aliveAfter.Select((a, c) => (a, c)).Where(p => !aliveBefore[p.c]), p => Assert.False(p.a)); // no filter comes back
            // The set is the criterion's: every filter pruned now scores no higher than any that stays (up to float32 rounding).
            foreach (var p in pruned)
                Assert.All(kept, k => Assert.True(score[p] <= score[k] + 1e-5 * Math.Max(1, Math.Abs(score[k])),
                    $"epoch {epoch}: filter {p} ({score[p]}) pruned, filter {k} ({score[k]}) kept"));
        }
        // After the last epoch's optimizer steps, the pruned filters of the effective weight are still zero.
        var final = Channels(masks.EpochEnds[3].Masks[0]);
        Assert.Equal(6, final.Count(a => !a));
        var weight = Values(conv.get_buffer("weight_mask")! * conv.get_parameter("weight_orig")!);
        Assert.All(Enumerable.Range(0, 8).Where(c => !final[c]), c => Assert.All(weight.Skip(4 * c).Take(4), v => Assert.Equal(0f, v)));
        Assert.All(Enumerable.Range(0, 8).Where(c => final[c]), c => Assert.Contains(weight.Skip(4 * c).Take(4), v => v != 0));
    }

    [Fact]
    public void A_lottery_ticket_with_taylor_fo_prunes_half_the_remaining_filters_each_round_and_rewinds_the_survivors_to_their_initial_weights()
    {
        torch.manual_seed(5);
        var net = new TinyBnNet();
        var conv = Child(net, "conv");
        (nn.Module, string)[] targets = [(conv, "weight")];
        var initial = Values(((TorchSharp.Modules.Conv2d)conv).weight!);
        using var ticket = new LotteryTicket(targets, new LotteryTicketOptions(0.5, Rounds: 2, EpochsPerRound: 1,
            Importance: Options(ImportanceCriterion.TaylorFo, net)));
        using var scores = new ScoreProbe(net, ImportanceCriterion.TaylorFo, Window, Batches);
        var masks = new MaskProbe(targets);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 3, callbacks: [scores, ticket, masks])).Run();

        int[] expected = [4, 6]; // round(0.5 · 8) = 4, then round(0.5 · 4) = 2 more
        for (int round = 0; round < 2; round++)
        {
            var (mask, orig) = masks.EpochEnds[round];
            var alive = Channels(mask[0]);
            Assert.Equal(expected[round], alive.Count(a => !a));
            var (score, before) = scores.EpochEnds[round];
            foreach (var p in Enumerable.Range(0, 8).Where(c => before[c] && !alive[c]))
                Assert.All(Enumerable.Range(0, 8).Where(c => alive[c]), k => Assert.True(score[p] <= score[k] * (1 + 1e-5)));
            // Survivors hold exactly their initial weights again; training had moved them.
            foreach (var c in Enumerable.Range(0, 8).Where(c => alive[c]))
                Assert.Equal(initial.Skip(4 * c).Take(4), orig[0].Skip(4 * c).Take(4));
        }
        Assert.NotEqual(initial, masks.EpochEnds[2].Origs[0]);
        Assert.Equal(2, ticket.RoundsDone);
    }

    /// <summary>By steps, linear to 7 of 8 filters: pruning at 1, 4, 7 and 10 (round(8 · 0.875 · (t − 1)/9) = 0, 2, 5, 7) with a
    /// 3-step window; the window of step 10 (steps 8–10) spans the checkpoint written after step 8, the end of epoch 1.</summary>
    private static (float[] Mask, float[] Orig) TrainBySteps(string pruner, int epochs, string? dir, bool resume = false)
    {
        torch.manual_seed(3);
        var net = new TinyBnNet();
        var conv = Child(net, "conv");
        var options = Options(ImportanceCriteria.Find(pruner)!.Value, net) with { TrainingSteps = 3 };
        using var pruning = new ScheduledPruning([(conv, "weight")], new ScheduledPruningOptions(
            SparsitySchedule.Linear(0.875, start: 1, end: 10, frequency: 3), ScheduleUnit.Step, Importance: options));
        if (resume) torch.manual_seed(1234);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: epochs, checkpointDir: dir, callbacks: [pruning], lossHooks: pruning.LossHooks)).Run(resume);
        return (Values(Mask(conv, "weight")), Values(Orig(conv, "weight")));
    }

    [Theory]
    [InlineData("taylor-fo")]
    [InlineData("apoz")]
    [InlineData("slim")]
    public void A_run_resumed_in_the_middle_of_a_collection_window_ends_with_the_masks_and_weights_of_the_unbroken_run(string pruner)
    {
        var unbroken = TrainBySteps(pruner, 4, null);
        var dir = Fixtures.TempDir();
        var first = TrainBySteps(pruner, 2, dir);
        var resumed = TrainBySteps(pruner, 4, dir, resume: true);
        Assert.Equal(unbroken.Mask, resumed.Mask);
        Assert.Equal(unbroken.Orig, resumed.Orig);
        Assert.Equal(7 * 4, unbroken.Mask.Count(m => m == 0));   // 7 filters of 4 weights
        Assert.Equal(5 * 4, first.Mask.Count(m => m == 0));      // the checkpoint's, after step 8
    }

    private static bool[] Channels(float[] mask) => Enumerable.Range(0, 8).Select(c => mask.Skip(4 * c).Take(4).Any(m => m != 0)).ToArray();
}
