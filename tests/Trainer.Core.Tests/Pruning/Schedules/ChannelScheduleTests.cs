using Trainer.Abstractions;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>Four features seen as a 1×2×2 image: an 8-filter conv, then a classifier.</summary>
internal sealed class TinyConvNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d conv;
    private readonly TorchSharp.Modules.Linear fc;

    public TinyConvNet() : base(nameof(TinyConvNet))
    {
        conv = nn.Conv2d(1, 8, 2);
        fc = nn.Linear(8, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => fc.call(conv.call(x.view(-1, 1, 2, 2)).relu().flatten(1));
}

public class ChannelScheduleTests
{
    [Fact]
    public void An_agp_schedule_over_channels_prunes_whole_filters_with_the_smallest_L2_norms()
    {
        torch.manual_seed(4);
        var net = new TinyConvNet();
        (nn.Module, string)[] targets = [(Child(net, "conv"), "weight")];
        // AGP to 0.75 of the 8 filters at epochs 1, 2, 3: 0, 0.75·(1 − 0.5³) = 0.65625 → round(5.25) = 5, then 6.
        var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(
            SparsitySchedule.Agp(0.75, start: 1, end: 3), ScheduleUnit.Epoch, ChannelDim: 0));
        var probe = new MaskProbe(targets);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 3, callbacks: [pruning, probe])).Run();

        int[] expected = [0, 5, 6];
        var before = Enumerable.Repeat(true, 8).ToArray(); // channels alive before this epoch's pruning
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var (masks, origs) = probe.EpochEnds[epoch];
            var channelMasks = masks[0].Chunk(4).ToArray(); // [8, 1, 2, 2]: 4 entries a filter
            Assert.All(channelMasks, c => Assert.True(c.All(m => m == 1) || c.All(m => m == 0))); // whole filters only
            var alive = channelMasks.Select(c => c[0] == 1).ToArray();
            Assert.Equal(expected[epoch], alive.Count(a => !a));
            // The filters pruned now had L2 norms no larger than any filter that stays.
            var norms = origs[0].Chunk(4).Select(c => Math.Sqrt(c.Sum(w => (double)w * w))).ToArray();
            var newlyPruned = Enumerable.Range(0, 8).Where(c => before[c] && !alive[c]).ToArray();
            var kept = Enumerable.Range(0, 8).Where(c => alive[c]).ToArray();
            foreach (var p in newlyPruned)
                Assert.All(kept, k => Assert.True(norms[p] <= norms[k], $"filter {p} (norm {norms[p]}) pruned before filter {k} (norm {norms[k]})"));
            before = alive;
        }
    }

    [Fact]
    public void Channel_pruning_of_a_bias_or_globally_is_refused()
    {
        var net = new TinyConvNet();
        var bias = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "fc"), "bias")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 0, 2), ChannelDim: 0)));
        Assert.Contains("at least 2 dims", bias.Message);
        Assert.False(Trainer.Core.Pruning.TorchPrune.Prune.IsPruned(net)); // the refused callback left the net as it was
        var global = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "conv"), "weight")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 0, 2), Global: true, ChannelDim: 0)));
        Assert.Contains("Choose one", global.Message);
    }
}
