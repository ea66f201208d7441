using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Latency;

public sealed class MeasuredChoiceTests
{
    private static readonly long[] TinyShape = [1, 3, 32, 32];

    private static ChannelAllocation Allocation(int conv1, double predicted) =>
        new("latency-aware", new Dictionary<string, int> { ["conv1"] = conv1 }, new Dictionary<string, int> { ["conv1"] = 16 },
            conv1 * 10, 160, predicted, 20);

    [Fact]
    public void TheFastestMeasuredWinsWhateverTheTablePredicted()
    {
        ChannelAllocation[] candidates = [Allocation(8, 1.0), Allocation(16, 2.0), Allocation(12, 3.0)];
        var built = new List<nn.Module<Tensor, Tensor>>();
        nn.Module<Tensor, Tensor> Build(ChannelAllocation a)
        {
            var model = new TinyResNet();
            built.Add(model);
            return model;
        }
        // Measured times in the order built: the table's second choice is the fastest.
        bool[] trainingWhenTimed = [];
        var ranked = MeasuredChoice.Rank(candidates, Build, models =>
        {
            trainingWhenTimed = models.Select(m => m.training).ToArray();
            return [5.0, 2.0, 3.0];
        });

        Assert.Equal([16, 12, 8], ranked.Select(r => r.Allocation.KeptChannels["conv1"]));
        Assert.Equal([2.0, 3.0, 5.0], ranked.Select(r => r.MeasuredMs));
        Assert.Equal(3, built.Count);
        Assert.Equal([false, false, false], trainingWhenTimed);   // timed in eval mode
    }

    [Fact]
    public void OneCandidateIsReturnedUntimedAndBadTimingsAreRefused()
    {
        int builds = 0;
        var single = MeasuredChoice.Rank([Allocation(8, 1.0)], _ => { builds++; return new TinyResNet(); }, [1, 3, 32, 32]);
        Assert.Equal(0, builds);
        Assert.True(double.IsNaN(single[0].MeasuredMs));

        Assert.Throws<ArgumentException>(() => MeasuredChoice.Rank([], _ => new TinyResNet(), TinyShape));
        Assert.Throws<ArgumentException>(() => MeasuredChoice.Rank([Allocation(8, 1), Allocation(16, 2)], _ => new TinyResNet(), [1, 0, 32, 32]));
        var e = Assert.Throws<ArgumentException>(() =>
            MeasuredChoice.Rank([Allocation(8, 1), Allocation(16, 2)], _ => new TinyResNet(), _ => [1.0]));
        Assert.Contains("1 figures for 2 models", e.Message);
    }

    [Fact]
    public void RefinementFollowsTheClockToTheMeasuredFastestNeighbourAndStopsThere()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = AllocatorTests.Table("layer2.conv1");
        var start = LatencyAwareAllocator.Allocate(model, graph, table, 0.6, floor: 0.5, roundTo: 4);
        IReadOnlyList<ChannelAllocation> Moves(ChannelAllocation a) =>
            LatencyAwareAllocator.Neighbours(model, graph, table, a, 0.6, floor: 0.5, roundTo: 4, count: 6);
        // The "clock" disagrees with the table: time is the stem's width (conv1) plus a little per MAC.
        static double Clock(ChannelAllocation a) => a.KeptChannels["conv1"] + a.Macs * 1e-7;
        var built = new Dictionary<nn.Module<Tensor, Tensor>, ChannelAllocation>(ReferenceEqualityComparer.Instance);
        nn.Module<Tensor, Tensor> Build(ChannelAllocation a)
        {
            var m = new TinyResNet();
            built[m] = a;
            return m;
        }
        var refined = MeasuredChoice.Refine(start, Moves, Build, models => models.Select(m => Clock(built[m])).ToArray(), steps: 10);

        Assert.True(Clock(refined.Allocation) < Clock(start), $"refinement did not move from {start}");
        Assert.Equal(Clock(refined.Allocation), refined.MeasuredMs, 9);
        // A local optimum of the clock: no proposed move from the result is more than 2% faster.
        Assert.All(Moves(refined.Allocation), m => Assert.True(Clock(m) > Clock(refined.Allocation) * 0.98, $"{m} is faster"));
        Assert.True(refined.Allocation.Macs <= (long)(0.6 * refined.Allocation.FullMacs));
        // No steps: the start, untimed.
        Assert.Same(start, MeasuredChoice.Refine(start, Moves, Build, _ => throw new InvalidOperationException(), steps: 0).Allocation);
    }

    [Fact]
    public void RealTimingNarrowsRealModelsOfEveryCandidate()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var table = LatencyTable.LoadOrMeasure(model, TinyShape, graph, new LatencyTableOptions { UseCache = false, Rounds = 1, GridPoints = 2 });
        var candidates = LatencyAwareAllocator.Candidates(model, graph, table, 0.6, floor: 0.5, roundTo: 4, count: 3);
        var shapes = new List<long>();
        nn.Module<Tensor, Tensor> Build(ChannelAllocation a)
        {
            var narrowed = new TinyResNet();
            ChannelShrinker.Shrink(narrowed, graph, a.FirstChannelMasks(graph));
            shapes.Add(((TorchSharp.Modules.Conv2d)narrowed.named_modules().Single(m => m.name == "conv1").module).weight.shape[0]);
            return narrowed;
        }
        var ranked = MeasuredChoice.Rank(candidates, Build, TinyShape, rounds: 2);

        Assert.Equal(candidates.Count, ranked.Count);
        Assert.Equal(candidates.Select(c => (long)c.KeptChannels["conv1"]), shapes);
        Assert.All(ranked, r => Assert.True(r.MeasuredMs > 0));
        Assert.Equal(ranked.Select(r => r.MeasuredMs).Order(), ranked.Select(r => r.MeasuredMs));
    }
}
