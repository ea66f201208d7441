using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

public class LotteryTicketTests
{
    private static (nn.Module Net, MaskProbe Probe, LotteryTicket Ticket) Train(LotteryTicketOptions options, int epochs)
    {
        torch.manual_seed(5);
        var net = new SmallNet();
        var targets = Targets(net);
        var ticket = new LotteryTicket(targets, options);
        var probe = new MaskProbe(targets);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: epochs, callbacks: [ticket, probe])).Run();
        return (net, probe, ticket);
    }

    [Fact]
    public void Each_round_rewinds_survivors_to_the_initial_weights_and_prunes_a_fifth_of_what_remains()
    {
        var (_, probe, ticket) = Train(new LotteryTicketOptions(0.2, Rounds: 3, EpochsPerRound: 1), epochs: 4);
        Assert.Equal(3, ticket.RoundsDone);
        var initial = probe.StepOrigs[0];
        // PyTorch's counts, a fraction of the remaining entries rounded half to even each round:
        // 64 → 13, +round(0.2·51)=10, +round(0.2·41)=8; 16 → 3, +3 (0.2·13=2.6), +2 (0.2·10); 48 → 10, +8 (7.6), +6 (6.0).
        long[][] zeros = [[13, 23, 31], [3, 6, 8], [10, 18, 24]];
        int[] sizes = [64, 16, 48];
        for (int round = 1; round <= 3; round++)
        {
            var (masks, origs) = probe.EpochEnds[round - 1];
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(zeros[i][round - 1], masks[i].LongCount(m => m == 0));
                // The bound of the brief: 1 − (1 − p)^r of the entries, each round's rounding off by at most a half.
                Assert.InRange(masks[i].LongCount(m => m == 0), sizes[i] * (1 - Math.Pow(0.8, round)) - 0.5 * round,
                                                                sizes[i] * (1 - Math.Pow(0.8, round)) + 0.5 * round);
                Assert.Equal(initial[i], origs[i]); // rewound exactly, bit for bit
            }
        }
        // The fourth epoch trains the last ticket: survivors move away from the initial weights, pruned stay zero.
        for (long step = 13; step <= 16; step++)
            for (int i = 0; i < 3; i++)
            {
                var mask = probe.StepMasks[step][i];
                var effective = probe.StepOrigs[step][i].Zip(mask, (w, m) => w * m).ToArray();
                Assert.Equal(probe.EpochEnds[2].Masks[i], mask);
                Assert.All(effective.Where((_, j) => mask[j] == 0), w => Assert.Equal(0f, w));
            }
        Assert.NotEqual(initial[0], probe.StepOrigs[16][0]);
    }

    [Fact]
    public void Rewinding_to_an_early_step_records_the_weights_after_that_step()
    {
        var (_, probe, ticket) = Train(new LotteryTicketOptions(0.5, Rounds: 1, EpochsPerRound: 1, RewindStep: 2), epochs: 1);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(probe.StepOrigs[2][i], Values(ticket.RecordedWeights(i)!));
            Assert.NotEqual(probe.StepOrigs[0][i], probe.StepOrigs[2][i]);
            Assert.Equal(probe.StepOrigs[2][i], probe.EpochEnds[0].Origs[i]);
        }
        Assert.Equal(32, probe.EpochEnds[0].Masks[0].Count(m => m == 0));
    }

    [Fact]
    public void A_round_ending_before_the_rewind_step_is_refused()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Train(new LotteryTicketOptions(0.5, 1, 1, RewindStep: 100), epochs: 1));
        Assert.Contains("RewindStep", error.Message);
    }

    [Fact]
    public void Global_rounds_prune_a_fraction_of_all_remaining_weights_together()
    {
        var (_, probe, _) = Train(new LotteryTicketOptions(0.2, Rounds: 2, EpochsPerRound: 1, Global: true), epochs: 2);
        // 128 entries: round(0.2·128 = 25.6) = 26, then round(0.2·102 = 20.4) = 20 more.
        Assert.Equal(26, probe.EpochEnds[0].Masks.Sum(m => m.Count(v => v == 0)));
        Assert.Equal(46, probe.EpochEnds[1].Masks.Sum(m => m.Count(v => v == 0)));
        Assert.Equal(probe.StepOrigs[0], probe.EpochEnds[1].Origs);
    }

    [Fact]
    public void Bad_lottery_ticket_settings_are_refused_with_the_reason()
    {
        var net = new SmallNet();
        (nn.Module, string)[] targets = [(Child(net, "fc1"), "weight")];
        Assert.Contains("(0, 1)", Assert.Throws<ArgumentOutOfRangeException>(() => new LotteryTicket(targets, new(1.0, 1, 1))).Message);
        Assert.Contains("at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => new LotteryTicket(targets, new(0.2, 0, 1))).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentOutOfRangeException>(() => new LotteryTicket(targets, new(0.2, 1, 1, RewindStep: -1))).Message);
    }
}
