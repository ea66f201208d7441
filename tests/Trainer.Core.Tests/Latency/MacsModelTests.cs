using TorchSharp;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Latency;

public sealed class MacsModelTests
{
    private static readonly long[] TinyShape = [1, 3, 32, 32];

    [Fact]
    public void AllocatableGroupsAreTheNarrowableGroupsNamedByTheirFirstProducer()
    {
        var graph = ModelGraph.Build(new TinyResNet(), TinyShape);
        var groups = AllocatableGroup.Of(graph);

        // fc gives the model's output, so its group is not allocatable.
        Assert.Equal(["conv1", "layer1.conv1", "layer2.downsample.0", "layer2.conv1"], groups.Select(g => g.Id));
        Assert.Equal(["conv1", "layer1.conv2"], groups[0].Producers);
        Assert.Equal([8, 16], groups[0].Options(0.5, 8));
        Assert.Equal([16, 24, 32], groups[2].Options(0.5, 8));
        Assert.Equal([12, 16, 20, 24, 28, 32], groups[3].Options(0.35, 4));
    }

    [Fact]
    public void MacsOfAnAllocationEqualTheCountOfTheShrunkResidualModel()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);
        Assert.Equal(FlopsCounter.Count(model, TinyShape).TotalFlops, macs.FullMacs);

        var kept = new Dictionary<string, int> { ["conv1"] = 8, ["layer1.conv1"] = 16, ["layer2.downsample.0"] = 24, ["layer2.conv1"] = 16 };
        var allocation = new ChannelAllocation("test", kept, groups.ToDictionary(g => g.Id, g => g.Channels), macs.Macs(kept), macs.FullMacs, null, null);
        ChannelShrinker.Shrink(model, graph, allocation.FirstChannelMasks(graph));

        long counted = FlopsCounter.Count(model, TinyShape).TotalFlops;
        Assert.Equal(counted, macs.Macs(kept));
        Assert.True(counted < macs.FullMacs);
    }

    [Fact]
    public void MacsOfAnAllocationEqualFlopsCounterMaskedCountOnAPlainNet()
    {
        var model = new FashionCnn();
        long[] shape = [1, 1, 28, 28];
        var graph = ModelGraph.Build(model, shape);
        var groups = AllocatableGroup.Of(graph);
        Assert.Equal(["conv1", "conv2", "conv3", "fc1"], groups.Select(g => g.Id));
        var macs = MacsModel.Build(model, graph, groups);

        var kept = new Dictionary<string, int> { ["conv1"] = 16, ["conv2"] = 40, ["conv3"] = 64, ["fc1"] = 128 };
        var masks = kept.ToDictionary(p => p.Key, p => torch.arange(groups.Single(g => g.Id == p.Key).Channels).lt(p.Value));
        long masked = FlopsCounter.Count(model, shape, CountMode.Default, masks).TotalFlops;
        Assert.Equal(masked, macs.Macs(kept));
    }

    [Fact]
    public void MacsOfAnAllocationEqualFlopsCounterMaskedCountOnAResNet()
    {
        long[] shape = [1, 3, 64, 64];
        using var model = torchvision.models.resnet18(num_classes: 10);
        var graph = ModelGraph.Build(model, shape);
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);
        // Every group at a different width, residual groups included.
        var kept = groups.Select((g, i) => (g.Id, Kept: g.Channels * (2 + i % 3) / 4)).ToDictionary(x => x.Id, x => x.Kept);
        var allocation = new ChannelAllocation("test", kept, groups.ToDictionary(g => g.Id, g => g.Channels), macs.Macs(kept), macs.FullMacs, null, null);
        var masks = allocation.FirstChannelMasks(graph).ToDictionary(p => p.Key, p => torch.tensor(p.Value));

        long masked = FlopsCounter.Count(model, shape, CountMode.Default, masks).TotalFlops;
        Assert.Equal(masked, macs.Macs(kept));
        ChannelShrinker.Shrink(model, graph, allocation.FirstChannelMasks(graph));
        Assert.Equal(FlopsCounter.Count(model, shape).TotalFlops, masked);
    }

    [Fact]
    public void FirstChannelMasksGiveEveryProducerOfAGroupTheSameFirstK()
    {
        var graph = ModelGraph.Build(new TinyResNet(), TinyShape);
        var groups = AllocatableGroup.Of(graph);
        var kept = new Dictionary<string, int> { ["conv1"] = 8, ["layer1.conv1"] = 16, ["layer2.downsample.0"] = 24, ["layer2.conv1"] = 32 };
        var allocation = new ChannelAllocation("test", kept, groups.ToDictionary(g => g.Id, g => g.Channels), 0, 1, null, null);
        var masks = allocation.FirstChannelMasks(graph);

        // Groups kept whole get no mask.
        Assert.Equal(["conv1", "layer1.conv2", "layer2.conv2", "layer2.downsample.0"], masks.Keys.Order());
        Assert.Equal(masks["conv1"], masks["layer1.conv2"]);
        Assert.Equal(Enumerable.Range(0, 32).Select(c => c < 24), masks["layer2.conv2"]);
        Assert.Equal(0.5, allocation.GroupKeepRatios["conv1"]);
        Assert.Equal(0.5, allocation.MinKeepRatio);
    }
}
