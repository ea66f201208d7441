using Trainer.Core.Graph;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>Grouped convs are producers and constrain the producers feeding them (NNI's GroupDependency).</summary>
public sealed class GroupedConvTests
{
    [Fact]
    public void Grouped_conv_constrains_itself_and_its_input_producer()
    {
        using var model = new GroupedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);

        Assert.Empty(graph.Problems);
        Assert.Equal(LayerKind.GroupedConv, graph.Layer("grouped").Kind);
        Assert.Equal(["conv1", "grouped", "conv3"], graph.Producers);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("conv1", "grouped")!.Mapping);
        Assert.Equal(["bn"], graph.FollowersOf("grouped"));

        var groups = graph.GroupDependency;
        Assert.Equal(["conv1", "grouped", "conv3"], groups.Layers);
        Assert.Equal(4, groups.DivisorOf("conv1"));
        Assert.Equal(4, groups.DivisorOf("grouped"));
        Assert.Equal(1, groups.DivisorOf("conv3"));
        Assert.Equal(1, groups.MinGroups["conv1"]); // contributions [1, 4]: min 1 = gcd
        Assert.Equal(4, groups.MinGroups["grouped"]);
        Assert.Equal("Conv Layer Name,Group\r\nconv1,4\r\ngrouped,4\r\nconv3,1\r\n", groups.ToCsv());
    }

    [Fact]
    public void Depthwise_convs_add_no_group_constraint()
    {
        using var model = new MobileBlockNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);

        Assert.All(graph.GroupDependency.Divisors.Values, d => Assert.Equal(1, d));
        Assert.Equal(["stem", "expand", "depthwise", "project"], graph.GroupDependency.Layers);
    }

    [Fact]
    public void Resnext50_grouped_convs_constrain_the_conv_before_them()
    {
        using var model = models.resnext50_32x4d();
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);

        Assert.Empty(graph.Problems);
        Assert.Equal(LayerKind.GroupedConv, graph.Layer("layer1.0.conv2").Kind);
        Assert.Equal(32, graph.GroupDependency.DivisorOf("layer1.0.conv1"));
        Assert.Equal(32, graph.GroupDependency.DivisorOf("layer1.0.conv2"));
        Assert.Equal(1, graph.GroupDependency.DivisorOf("layer1.0.conv3"));
        Assert.Equal(1, graph.GroupDependency.DivisorOf("conv1"));
    }
}
