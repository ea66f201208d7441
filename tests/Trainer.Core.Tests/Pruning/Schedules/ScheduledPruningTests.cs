using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Pruning.TorchPrune;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

public class ScheduledPruningTests
{
    private static SparsitySchedule ScheduleOf(string name)
    {
        var c = Root.GetProperty(name);
        var shape = c.GetProperty("shape").GetString() == "agp" ? ScheduleShape.Agp : ScheduleShape.Linear;
        return new SparsitySchedule(shape, c.GetProperty("s_i").GetDouble(), c.GetProperty("s_f").GetDouble(),
            c.GetProperty("start").GetInt64(), c.GetProperty("end").GetInt64(), c.GetProperty("freq").GetInt64());
    }

    private static long[] Points(string name) => Root.GetProperty(name).GetProperty("points").EnumerateArray().Select(p => p.GetInt64()).ToArray();

    [Theory]
    [InlineData("agp_steps")]
    [InlineData("linear_ties")]
    public void The_schedule_prunes_at_the_reference_points_with_the_reference_sparsities(string name)
    {
        var schedule = ScheduleOf(name);
        var expected = Root.GetProperty(name).GetProperty("sparsities").EnumerateArray().Select(s => s.GetDouble()).ToArray();
        Assert.Equal(Points(name), Enumerable.Range(0, 12).Select(t => (long)t).Where(schedule.IsPruningPoint).ToArray());
        Assert.Equal(expected, Points(name).Select(schedule.SparsityAt).ToArray());
        Assert.Equal(0, schedule.SparsityAt(schedule.Start - 1));
        Assert.Equal(schedule.FinalSparsity, schedule.SparsityAt(schedule.End + 5));
    }

    private static (nn.Module Net, MaskProbe Probe, ScheduledPruning Pruning) TrainWithSchedule(
        SparsitySchedule schedule, ScheduleUnit unit, bool global, int epochs, bool permanent = false)
    {
        torch.manual_seed(11);
        var net = new SmallNet();
        var targets = Targets(net);
        var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(schedule, unit, global, permanent));
        var probe = new MaskProbe(targets);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: epochs, callbacks: [pruning, probe])).Run();
        return (net, probe, pruning);
    }

    [Theory]
    [InlineData("agp_steps")]
    [InlineData("linear_ties")]
    public void After_each_pruning_step_each_tensor_has_exactly_PyTorchs_count_of_zeros(string name)
    {
        var (_, probe, pruning) = TrainWithSchedule(ScheduleOf(name), ScheduleUnit.Step, global: false, epochs: 2);
        var zeros = Root.GetProperty(name).GetProperty("zeros").EnumerateArray()
            .Select(z => z.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
        var points = Points(name);
        for (int p = 0; p < points.Length; p++)
            for (int i = 0; i < zeros.Length; i++)
                Assert.Equal(zeros[i][p], probe.StepMasks[points[p]][i].LongCount(v => v == 0));
        Assert.Equal(points[^1], pruning.LastPrunedAt);
        // Masks only ever lose ones: what was pruned at one step is pruned at every later one.
        for (long step = 1; step < probe.StepMasks.Count; step++)
            for (int i = 0; i < zeros.Length; i++)
                Assert.All(probe.StepMasks[step][i].Zip(probe.StepMasks[step - 1][i]), m => Assert.True(m.First <= m.Second));
        Assert.Equal(8, probe.StepMasks.Keys.Max()); // 2 epochs of 4 batches
    }

    [Theory]
    [InlineData("agp_steps")]
    [InlineData("linear_ties")]
    public void Global_pruning_reaches_PyTorchs_count_over_all_targets_together(string name)
    {
        var (_, probe, _) = TrainWithSchedule(ScheduleOf(name), ScheduleUnit.Step, global: true, epochs: 2);
        var expected = Root.GetProperty(name).GetProperty("global_zeros").EnumerateArray().Select(v => v.GetInt64()).ToArray();
        var points = Points(name);
        for (int p = 0; p < points.Length; p++)
            Assert.Equal(expected[p], probe.StepMasks[points[p]].Sum(m => m.LongCount(v => v == 0)));
    }

    [Fact]
    public void The_epoch_unit_prunes_at_epoch_ends_and_making_it_permanent_leaves_plain_zeroed_weights()
    {
        // Linear from 0.25 after epoch 1 to 0.5 after epoch 2: fc1.weight 16 then 32 zeros of 64.
        var schedule = SparsitySchedule.Linear(0.5, start: 1, end: 2, initialSparsity: 0.25);
        var (net, probe, _) = TrainWithSchedule(schedule, ScheduleUnit.Epoch, global: false, epochs: 3, permanent: true);
        Assert.Equal(0, probe.StepMasks[4][0].Count(v => v == 0)); // after epoch 0's four steps, before its end
        Assert.Equal([16, 4, 12], probe.EpochEnds[0].Masks.Select(m => m.Count(v => v == 0)).ToArray());
        Assert.Equal([32, 8, 24], probe.EpochEnds[1].Masks.Select(m => m.Count(v => v == 0)).ToArray());
        Assert.Equal([32, 8, 24], probe.EpochEnds[2].Masks.Select(m => m.Count(v => v == 0)).ToArray());

        Assert.False(Prune.IsPruned(net));
        var keys = net.state_dict().Keys.ToArray();
        Assert.Contains("fc1.weight", keys);
        Assert.DoesNotContain(keys, k => k.EndsWith("_orig") || k.EndsWith("_mask"));
        var fc1 = Values(Child(net, "fc1").get_parameter("weight")!);
        // The permanent weight is zero exactly where the last mask was.
        Assert.Equal(probe.EpochEnds[2].Masks[0].Select(m => m == 0).ToArray(), fc1.Select(w => w == 0).ToArray());
    }

    [Fact]
    public void Bad_schedules_are_refused_with_the_reason()
    {
        Assert.Contains("must not fall", Assert.Throws<ArgumentException>(() => SparsitySchedule.Agp(0.3, 0, 5, initialSparsity: 0.5)).Message);
        Assert.Contains("0 ≤ start ≤ end", Assert.Throws<ArgumentException>(() => SparsitySchedule.Linear(0.5, 4, 2)).Message);
        Assert.Contains("[0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => SparsitySchedule.Agp(1.5, 0, 5)).Message);
        Assert.Contains("at least 1", Assert.Throws<ArgumentOutOfRangeException>(() => SparsitySchedule.Agp(0.5, 0, 5, frequency: 0)).Message);
    }
}
