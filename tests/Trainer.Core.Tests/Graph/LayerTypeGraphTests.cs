using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Graph;

/// <summary>How the graph treats Conv1d, ConvTranspose2d, GroupNorm, LayerNorm, PixelShuffle and layers it cannot shrink.</summary>
public sealed class LayerTypeGraphTests
{
    [Fact]
    public void Conv1d_layers_are_producers_and_a_depthwise_conv1d_follows()
    {
        using var model = new Conv1dNet();
        var graph = ModelGraph.Build(model, [1, 4, 32]);

        Assert.Empty(graph.Problems);
        Assert.Equal(["conv1", "conv2", "mix", "conv3", "fc"], graph.Producers);
        Assert.Equal(LayerKind.DepthwiseConv, graph.Layer("depthwise").Kind);
        Assert.Equal(["bn2", "depthwise"], graph.FollowersOf("conv2"));
        // After the permute, the Linear reads conv2's channels as features (its last dimension).
        Assert.Equal((ChannelMapping.Identity, EdgeRole.Consumer), (graph.Edge("conv2", "mix")!.Mapping, graph.Edge("conv2", "mix")!.Role));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("mix", "conv3")!.Mapping);
    }

    [Fact]
    public void A_transposed_conv_consumes_the_bottleneck_and_produces_for_the_skip_concatenation()
    {
        using var model = new UNetLike();
        var graph = ModelGraph.Build(model, [1, 3, 16, 16]);

        Assert.Empty(graph.Problems);
        Assert.Equal(LayerKind.TransposedConv, graph.Layer("up2").Kind);
        Assert.Equal(EdgeRole.Consumer, graph.Edge("bottleneck", "up2")!.Role);
        Assert.Equal(["bnUp"], graph.FollowersOf("up2"));
        Assert.Equal(ChannelMapping.Identity, graph.Edge("up2", "dec2")!.Mapping);
        Assert.Equal(ChannelMapping.OffsetBy(16), graph.Edge("enc2", "dec2")!.Mapping);
        // Upsample (bilinear) and functional interpolate keep channels where they are.
        Assert.Equal(ChannelMapping.Identity, graph.Edge("dec2", "dec1")!.Mapping);
        Assert.Equal(ChannelMapping.OffsetBy(16), graph.Edge("enc1", "dec1")!.Mapping);
        Assert.All(graph.Groups.Where(g => g.Producers[0] != "head" && g.Producers[0] != "side"), g => Assert.False(g.IsCoupled));
    }

    [Fact]
    public void GroupNorm_and_LayerNorm_follow_their_producers()
    {
        using var model = new NormFollowersNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        Assert.Empty(graph.Problems);
        Assert.Equal(["groupNorm"], graph.FollowersOf("conv1"));
        Assert.Equal(["layerNorm"], graph.FollowersOf("embed"));
        Assert.Equal((LayerKind.LayerNorm, 12L), (graph.Layer("layerNorm").Kind, graph.Layer("layerNorm").Channels));
        Assert.Equal(4, graph.GroupDependency.DivisorOf("conv1"));
    }

    [Fact]
    public void PixelShuffle_is_named_as_the_layer_that_changes_the_channel_layout()
    {
        using var model = new PixelShuffleNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems);
        Assert.Equal((GraphProblemKind.UnsupportedMapping, "conv2", "conv1"), (problem.Kind, problem.Layer, problem.Producer));
        Assert.Contains("'shuffle' (PixelShuffle) changes the channel layout", problem.Message);
        Assert.False(graph.GroupOf("conv1").IsPrunable);
    }

    [Fact]
    public void A_grouped_transposed_conv_is_a_problem_with_its_reason_and_the_shrinker_refuses_once()
    {
        using var model = nn.Sequential(("conv", nn.Conv2d(3, 8, 1)), ("up", nn.ConvTranspose2d(8, 8, 2, stride: 2, groups: 2)),
            ("head", nn.Conv2d(8, 2, 1)));
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems);
        Assert.Equal((GraphProblemKind.UnsupportedLayer, "up"), (problem.Kind, problem.Layer));
        Assert.Contains("a transposed convolution with 2 groups (only groups = 1 is supported)", problem.Message);
        Assert.Equal(["conv", "head"], graph.Producers);

        var error = Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv"] = [true, false, true, false, true, false, true, false] }));
        Assert.Equal(1, CountOccurrences(error.Message, "transposed convolution with 2 groups"));
    }

    [Fact]
    public void A_layer_with_parameters_of_an_unknown_type_is_named_with_its_type()
    {
        using var model = new PReluNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems, p => p.Kind == GraphProblemKind.UnsupportedLayer);
        Assert.Equal("prelu", problem.Layer);
        Assert.Contains("PReLU has parameters of its own and no rule says which of them follow the channels", problem.Message);
    }

    private static int CountOccurrences(string text, string part) => (text.Length - text.Replace(part, "").Length) / part.Length;
}
