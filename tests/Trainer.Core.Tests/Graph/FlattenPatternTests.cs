using Trainer.Core.Graph;
using Trainer.Core.Models;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>Flatten into a Linear layer: each channel becomes a block of H*W features.</summary>
public sealed class FlattenPatternTests
{
    [Fact]
    public void FashionCnn_conv3_reaches_fc1_in_blocks_of_49()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);

        Assert.Empty(graph.Problems);
        Assert.Equal(["conv1", "conv2", "conv3", "fc1", "fc2"], graph.Producers);
        var edge = graph.Edge("conv3", "fc1")!;
        Assert.Equal(ChannelMapping.Block(49), edge.Mapping);
        Assert.Equal((MappingKind.Block, 128L, 6272L), (edge.Mapping.Kind, edge.ProducerChannels, edge.TargetWidth));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("conv1", "conv2")!.Mapping);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("fc1", "fc2")!.Mapping);
        Assert.Equal(["bn3"], graph.FollowersOf("conv3"));
        Assert.Equal([["conv1"], ["conv2"], ["conv3"], ["fc1"], ["fc2"]], graph.ChannelDependency.Sets.Select(s => s.ToArray()));
        Assert.Equal(6272, graph.Layer("fc1").InFeatures);
        Assert.Equal([1L, 6272], graph.Layer("fc1").InputShape);
    }

    [Fact]
    public void Small_conv_flatten_linear_model_gives_blocks_of_16()
    {
        using var model = new ConvFlattenLinearNet();
        var graph = ModelGraph.Build(model, [3, 1, 8, 8]);

        Assert.Empty(graph.Problems);
        var edge = graph.Edge("conv", "fc")!;
        Assert.Equal(ChannelMapping.Block(16), edge.Mapping);
        Assert.Equal(16, edge.Mapping.Start(1));
        Assert.Equal((0L, 96L), edge.Mapping.Span(6));
        Assert.Equal("block(16)", edge.Mapping.ToString());
    }

    [Fact]
    public void Vgg11_last_conv_reaches_the_classifier_in_blocks_of_49()
    {
        using var model = models.vgg11();
        // The adaptive 7x7 pool makes the classifier input 512*7*7 for any input size.
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);

        Assert.Empty(graph.Problems);
        Assert.Equal(11, graph.Producers.Count);
        Assert.Equal(11, graph.Groups.Count);
        var edge = graph.Edge("features.18", "classifier.0")!;
        Assert.Equal((ChannelMapping.Block(49), 512L, 25088L), (edge.Mapping, edge.ProducerChannels, edge.TargetWidth));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("features.0", "features.3")!.Mapping);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("classifier.0", "classifier.3")!.Mapping);
    }
}
