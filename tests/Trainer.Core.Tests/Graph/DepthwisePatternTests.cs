using Trainer.Core.Graph;
using Xunit.Abstractions;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>Depthwise convs are not cut: they follow their producer, whose channels reach the project conv with identity.</summary>
public sealed class DepthwisePatternTests(ITestOutputHelper output)
{
    [Fact]
    public void Mobile_block_depthwise_follows_the_expand_conv()
    {
        using var model = new MobileBlockNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);

        Assert.Empty(graph.Problems);
        Assert.Equal(LayerKind.DepthwiseConv, graph.Layer("depthwise").Kind);
        Assert.Equal(["stem", "expand", "project", "head"], graph.Producers);
        Assert.Equal(["bn1", "depthwise", "bn2"], graph.FollowersOf("expand"));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("expand", "project")!.Mapping);
        Assert.Equal(EdgeRole.Consumer, graph.Edge("expand", "project")!.Role);
        Assert.Null(graph.Edge("depthwise", "project"));
        // The residual add couples the stem and the project conv; the head reads both.
        Assert.Equal(["stem", "project"], graph.GroupOf("project").Producers);
        // NNI's sets: the depthwise conv is a layer of its own; the shrinker's sets keep it with the producer it follows.
        Assert.Equal([["stem", "project"], ["expand"], ["depthwise"], ["head"]], graph.ChannelDependency.Sets.Select(s => s.ToArray()));
        Assert.Equal([["stem", "project"], ["expand", "depthwise"], ["head"]], graph.PruningDependency.Sets.Select(s => s.ToArray()));
    }

    [Fact]
    public void Mobilenet_v2_depthwise_convs_follow_their_producers()
    {
        using var model = models.mobilenet_v2();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);
        output.WriteLine($"mobilenet_v2 built in {graph.BuildTime.TotalMilliseconds:0} ms");
        output.WriteLine(graph.ChannelDependency.ToCsv());

        Assert.Empty(graph.Problems);
        var depthwise = graph.Layers.Where(l => l.Kind == LayerKind.DepthwiseConv).ToList();
        Assert.Equal(17, depthwise.Count);
        Assert.Equal(52 - 17 + 1, graph.Producers.Count);
        // Block 1 has no expand conv: its depthwise follows the stem conv.
        Assert.Equal(["features.0.1", "features.1.conv.0.0", "features.1.conv.0.1"], graph.FollowersOf("features.0.0"));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("features.0.0", "features.1.conv.1")!.Mapping);
        // Block 2: expand (features.2.conv.0.0) → depthwise (features.2.conv.1.0) → project (features.2.conv.2).
        Assert.Equal(["features.2.conv.0.1", "features.2.conv.1.0", "features.2.conv.1.1"], graph.FollowersOf("features.2.conv.0.0"));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("features.2.conv.0.0", "features.2.conv.2")!.Mapping);
        Assert.Equal(["features.2.conv.1.0"], graph.ChannelDependency.SetOf("features.2.conv.1.0"));
        Assert.Equal(["features.2.conv.0.0", "features.2.conv.1.0"], graph.PruningDependency.SetOf("features.2.conv.1.0"));
        // Residual blocks couple their project convs: 24 channels (blocks 2-3), 32 (4-6), 64 (7-10), 96 (11-13), 160 (14-16).
        Assert.Equal(["features.2.conv.2", "features.3.conv.2"], graph.GroupOf("features.3.conv.2").Producers);
        Assert.Equal(["features.14.conv.2", "features.15.conv.2", "features.16.conv.2"], graph.GroupOf("features.16.conv.2").Producers);
        Assert.Equal(5, graph.Groups.Count(g => g.IsCoupled));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("features.18.0", "classifier.1")!.Mapping);
        // Every depthwise conv sits in exactly one set: alone in NNI's, with its producer in the shrinker's.
        Assert.All(depthwise, d => Assert.Equal([d.Name], graph.ChannelDependency.SetOf(d.Name)));
        Assert.All(depthwise, d => Assert.True(graph.PruningDependency.SetOf(d.Name).Count >= 2));
        Assert.Equal(graph.Producers.Count + 17, graph.ChannelDependency.Sets.Sum(s => s.Count));
        Assert.Equal(graph.Producers.Count + 17, graph.PruningDependency.Sets.Sum(s => s.Count));
    }
}
