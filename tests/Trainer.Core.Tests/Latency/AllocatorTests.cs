using TorchSharp;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Latency;

public sealed class AllocatorTests
{
    private static readonly long[] TinyShape = [1, 3, 32, 32];
    private static readonly LatencyTableKey Key = new("TinyResNet", "test", "cpu", 1, "0");

    /// <summary>
    /// A synthetic table: every conv costs 0.001 ms per (input width × output width), and the producers of the
    /// <paramref name="expensive"/> group 1 ms more per output channel; a fixed rest of 1 ms.
    /// </summary>
    internal static LatencyTable Table(string expensive) =>
        Table((i, o, outGroup) => i * o * 0.001 + (outGroup == expensive ? o : 0));

    /// <summary>The TinyResNet's pieces, each timed by <paramref name="ms"/>(input width, output width, output group); a rest of 1 ms.</summary>
    private static LatencyTable Table(Func<int, int, string?, double> ms)
    {
        LatencyUnit Unit(string producer, string? inGroup, int[] ins, string? outGroup, int[] outs) =>
            new(producer, [producer], inGroup, outGroup, ins, outs, ins.Select(i => outs.Select(o => ms(i, o, outGroup)).ToArray()).ToArray());
        int[] c16 = [8, 16], c32 = [16, 32];
        return new LatencyTable(Key,
        [
            Unit("conv1", null, [3], "conv1", c16),
            Unit("layer1.conv1", "conv1", c16, "layer1.conv1", c16),
            Unit("layer1.conv2", "layer1.conv1", c16, "conv1", c16),
            Unit("layer2.downsample.0", "conv1", c16, "layer2.downsample.0", c32),
            Unit("layer2.conv1", "conv1", c16, "layer2.conv1", c32),
            Unit("layer2.conv2", "layer2.conv1", c32, "layer2.downsample.0", c32),
            Unit("fc", "layer2.downsample.0", c32, null, [10]),
        ], 1, 0, 0, DateTimeOffset.UnixEpoch);
    }

    /// <summary>Every allocation of the floor-0.5, multiple-of-8 grid (exhaustive search in the tests).</summary>
    private static List<Dictionary<string, int>> EveryAllocation(IReadOnlyList<AllocatableGroup> groups) =>
        groups.Aggregate(new[] { new Dictionary<string, int>() }.AsEnumerable(),
            (partial, g) => partial.SelectMany(p => g.Options(0.5, 8).Select(k => new Dictionary<string, int>(p) { [g.Id] = k }))).ToList();

    [Theory]
    [InlineData("layer2.conv1", 16, 0.8)]
    [InlineData("layer1.conv1", 8, 0.77)]
    public void TheGroupWhoseTimeIsExpensivePerMacIsCutToItsFloorFirst(string expensive, int floorWidth, double target)
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var allocation = LatencyAwareAllocator.Allocate(model, graph, Table(expensive), target, floor: 0.5, roundTo: 8);

        Assert.Equal(floorWidth, allocation.KeptChannels[expensive]);
        Assert.Equal("latency-aware", allocation.Method);
        Assert.True(allocation.MacsRatio <= target);
        // The budget is spent: MACs are within the window below it, or no group can widen one step without breaking it.
        if (allocation.MacsRatio < target - LatencyAwareAllocator.BudgetWindow)
        {
            var groups = AllocatableGroup.Of(graph);
            var macs = MacsModel.Build(model, graph, groups);
            foreach (var g in groups.Where(g => allocation.KeptChannels[g.Id] < g.Channels))
            {
                var wider = new Dictionary<string, int>(allocation.KeptChannels) { [g.Id] = allocation.KeptChannels[g.Id] + 8 };
                Assert.True(macs.Macs(wider) > target * macs.FullMacs, $"{g.Id} could widen");
            }
        }
        Assert.All(allocation.KeptChannels, k => Assert.True(k.Value % 8 == 0));
        Assert.All(allocation.GroupKeepRatios.Values, r => Assert.InRange(r, 0.5, 1));
        Assert.Equal(Table(expensive).PredictMs(allocation.KeptChannels), allocation.PredictedMs);
    }

    [Theory]
    [InlineData("layer2.conv1", 0.6)]
    [InlineData("layer2.downsample.0", 0.7)]
    [InlineData("conv1", 0.9)]
    public void LatencyAwareFindsTheFastestAllocationInTheBudgetWindow(string expensive, double target)
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = Table(expensive);
        var aware = LatencyAwareAllocator.Allocate(model, graph, table, target, floor: 0.5, roundTo: 8);

        // Exhaustive search over the 2x2x3x3 allocations of the floor-0.5, multiple-of-8 grid.
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);
        var all = EveryAllocation(groups);
        Assert.Equal(36, all.Count);
        long budget = (long)(target * macs.FullMacs), low = Math.Min(aware.Macs, budget - (long)(LatencyAwareAllocator.BudgetWindow * macs.FullMacs));
        var best = all.Where(a => macs.Macs(a) <= budget && macs.Macs(a) >= low).Min(table.PredictMs);
        Assert.Equal(best, aware.PredictedMs!.Value, 9);
        Assert.True(aware.Macs <= budget);
    }

    [Theory]
    [InlineData("layer2.conv1", 0.6)]
    [InlineData("conv1", 0.9)]
    public void CandidatesAreDistinctAllocationsThatSpendTheBudgetFastestPredictedFirst(string expensive, double target)
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = Table(expensive);
        var pick = LatencyAwareAllocator.Allocate(model, graph, table, target, floor: 0.5, roundTo: 4);
        var candidates = LatencyAwareAllocator.Candidates(model, graph, table, target, floor: 0.5, roundTo: 4, count: 5);

        Assert.Equal(pick.KeptChannels, candidates[0].KeptChannels);
        Assert.InRange(candidates.Count, 2, 5);
        Assert.Equal(candidates.Count, candidates.Select(c => string.Join(",", c.KeptChannels.OrderBy(k => k.Key).Select(k => k.Value))).Distinct().Count());
        long budget = (long)(target * pick.FullMacs);
        Assert.All(candidates, c =>
        {
            Assert.True(c.Macs <= budget, $"{c} breaks the budget");
            Assert.All(c.GroupKeepRatios.Values, r => Assert.InRange(r, 0.5, 1));
            Assert.All(c.KeptChannels.Values, k => Assert.Equal(0, k % 4));
            Assert.Equal(table.PredictMs(c.KeptChannels), c.PredictedMs!.Value, 9);
        });
        // All inside the budget window when the pick is (the budget is spent), fastest predicted first.
        long window = budget - (long)(LatencyAwareAllocator.BudgetWindow * pick.FullMacs);
        if (pick.Macs >= window) Assert.All(candidates, c => Assert.True(c.Macs >= window, $"{c} undercuts the window"));
        var times = candidates.Select(c => c.PredictedMs!.Value).ToList();
        Assert.Equal(times.Order(), times);
        Assert.Single(LatencyAwareAllocator.Candidates(model, graph, table, target, floor: 0.5, roundTo: 4, count: 1));
    }

    [Theory]
    [InlineData("layer2.conv1", 0.5)]
    [InlineData("conv1", 0.6)]
    [InlineData("layer2.downsample.0", 0.8)]
    public void UnderALatencyBudgetTheMostMacsThatMeetItAreKept(string expensive, double latencyRatio)
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = Table(expensive);
        var candidates = LatencyAwareAllocator.CandidatesForLatency(model, graph, table, latencyRatio, floor: 0.5, roundTo: 8, count: 4);

        double budgetMs = latencyRatio * table.FullPredictedMs;
        Assert.NotEmpty(candidates);
        Assert.All(candidates, c => Assert.True(c.PredictedMs <= budgetMs + 1e-9, $"{c} misses the budget {budgetMs}"));
        // Exhaustive: the most MACs of any allocation on the grid that meets the budget; the first candidate keeps as many
        // (up to the budget window the MACs search allows).
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);
        var all = EveryAllocation(groups);
        long most = all.Where(a => table.PredictMs(a) <= budgetMs).Max(macs.Macs);
        Assert.True(candidates[0].Macs >= most - (long)(LatencyAwareAllocator.BudgetWindow * macs.FullMacs) && candidates[0].Macs <= most,
            $"kept {candidates[0].Macs} MACs, the most that meet the budget are {most} (of {macs.FullMacs}); {candidates[0]}; " +
            string.Join(" | ", all.Where(a => table.PredictMs(a) <= budgetMs).OrderByDescending(macs.Macs).Take(3)
                .Select(a => $"{macs.Macs(a)} {table.PredictMs(a):0.000}: " + string.Join(",", a.Select(k => $"{k.Key}={k.Value}")))));
    }

    [Fact]
    public void ALatencyBudgetTheFloorCannotReachNamesTheBest()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var e = Assert.Throws<ArgumentException>(() =>
            LatencyAwareAllocator.CandidatesForLatency(model, graph, Table("conv1"), 0.05, floor: 0.5, roundTo: 8, count: 2));
        Assert.Contains("predicts", e.Message);
        Assert.Contains("at best", e.Message);
        double lowest = LatencyAwareAllocator.LowestLatencyRatio(model, graph, Table("conv1"), floor: 0.5, roundTo: 8);
        var atFloor = new Dictionary<string, int> { ["conv1"] = 8, ["layer1.conv1"] = 8, ["layer2.downsample.0"] = 16, ["layer2.conv1"] = 16 };
        Assert.Equal(Table("conv1").PredictMs(atFloor) / Table("conv1").FullPredictedMs, lowest, 12);
        Assert.Contains($"{lowest:0.###} at best", e.Message);
        var full = LatencyAwareAllocator.CandidatesForLatency(model, graph, Table("conv1"), 1, floor: 0.5, roundTo: 8, count: 1).Single();
        Assert.Equal(full.FullMacs, full.Macs);
    }

    [Fact]
    public void AtFloorCutsEveryGroupToItsFloorEvenWhenANoisyTablePredictsNoGain()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        // A table measured on a busy machine: every piece timed slower narrow than wide.
        var noisy = Table((i, o, _) => 10.0 / (i * o));

        var atFloor = LatencyAwareAllocator.AtFloor(model, graph, noisy, floor: 0.5, roundTo: 8);

        Assert.Equal(new Dictionary<string, int> { ["conv1"] = 8, ["layer1.conv1"] = 8, ["layer2.downsample.0"] = 16, ["layer2.conv1"] = 16 },
            atFloor.KeptChannels.ToDictionary());
        Assert.True(atFloor.Macs < atFloor.FullMacs);
        Assert.True(LatencyAwareAllocator.LowestLatencyRatio(model, graph, noisy, floor: 0.5, roundTo: 8) > 1);   // the noise it survives
        Assert.Equal(noisy.FullPredictedMs, atFloor.FullPredictedMs);
    }

    [Fact]
    public void NeighboursMoveEveryGroupBothWaysWithinTheBudgetWindowFastestFirst()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = Table("layer2.conv1");
        var from = LatencyAwareAllocator.Allocate(model, graph, table, 0.6, floor: 0.5, roundTo: 4);
        var moves = LatencyAwareAllocator.Neighbours(model, graph, table, from, 0.6, floor: 0.5, roundTo: 4, count: 20);

        long budget = (long)(0.6 * from.FullMacs), window = budget - (long)(LatencyAwareAllocator.BudgetWindow * from.FullMacs);
        Assert.NotEmpty(moves);
        Assert.All(moves, m =>
        {
            Assert.InRange(m.Macs, Math.Min(window, from.Macs), budget);
            Assert.NotEqual(from.KeptChannels, m.KeptChannels);
            Assert.All(m.GroupKeepRatios.Values, r => Assert.InRange(r, 0.5, 1));
        });
        Assert.Equal(moves.Count, moves.Select(m => string.Join(",", m.KeptChannels.OrderBy(k => k.Key).Select(k => k.Value))).Distinct().Count());
        var times = moves.Select(m => m.PredictedMs!.Value).ToList();
        Assert.Equal(times.Order(), times);
        // Every group that can move within the window appears narrowed or widened in some proposal.
        var moved = moves.SelectMany(m => m.KeptChannels.Where(k => k.Value != from.KeptChannels[k.Key]).Select(k => k.Key)).Distinct().Count();
        Assert.True(moved >= 2, $"only {moved} group(s) moved");
        Assert.Equal(2, LatencyAwareAllocator.Neighbours(model, graph, table, from, 0.6, floor: 0.5, roundTo: 4, count: 2).Count);
    }

    [Fact]
    public void UniformKeepsOneRatioAndTheLargestThatFits()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var uniform = UniformAllocator.Allocate(model, graph, 0.5, roundTo: 1);
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);

        Assert.Equal("uniform", uniform.Method);
        Assert.True(uniform.Macs <= 0.5 * uniform.FullMacs);
        // Same-size groups keep the same count; the 32-channel groups keep about twice the 16-channel ones.
        Assert.Equal(uniform.KeptChannels["conv1"], uniform.KeptChannels["layer1.conv1"]);
        Assert.Equal(uniform.KeptChannels["layer2.conv1"], uniform.KeptChannels["layer2.downsample.0"]);
        Assert.InRange(uniform.KeptChannels["layer2.conv1"] - 2 * uniform.KeptChannels["conv1"], -1, 1);
        // One channel more everywhere would break the budget.
        var wider = uniform.KeptChannels.ToDictionary(k => k.Key, k => Math.Min(k.Value + 1, uniform.GroupChannels[k.Key]));
        Assert.True(macs.Macs(wider) > 0.5 * uniform.FullMacs);
    }

    [Fact]
    public void AnUnreachableTargetNamesTheSmallestReachableRatio()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var e = Assert.Throws<ArgumentException>(() => LatencyAwareAllocator.Allocate(model, graph, Table("conv1"), 0.1, floor: 0.5));
        Assert.Contains("smallest reachable ratio", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyAwareAllocator.Allocate(model, graph, Table("conv1"), 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => LatencyAwareAllocator.Allocate(model, graph, Table("conv1"), 0.5, floor: 0));
    }

    [Fact]
    public void ATableOfAnotherModelIsRefused()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var foreign = new LatencyTable(Key, [new LatencyUnit("features.0", ["features.0"], null, "features.0", [3], [8, 16], [[1, 2]])], 0, 0, 0,
            DateTimeOffset.UnixEpoch);
        var e = Assert.Throws<ArgumentException>(() => LatencyAwareAllocator.Allocate(model, graph, foreign, 0.5));
        Assert.Contains("features.0", e.Message);
    }
}
