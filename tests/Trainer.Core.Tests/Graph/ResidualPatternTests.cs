using TorchSharp;
using Trainer.Core.Graph;
using Xunit.Abstractions;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>Residual adds couple producers: TorchVision resnet18 gives NNI's 13 channel dependency sets.</summary>
public sealed class ResidualPatternTests(ITestOutputHelper output)
{
    private static readonly string[][] NniResnet18Sets =
    [
        ["conv1", "layer1.0.conv2", "layer1.1.conv2"],
        ["layer1.0.conv1"],
        ["layer1.1.conv1"],
        ["layer2.0.conv1"],
        ["layer2.0.conv2", "layer2.0.downsample.0", "layer2.1.conv2"],
        ["layer2.1.conv1"],
        ["layer3.0.conv1"],
        ["layer3.0.conv2", "layer3.0.downsample.0", "layer3.1.conv2"],
        ["layer3.1.conv1"],
        ["layer4.0.conv1"],
        ["layer4.0.conv2", "layer4.0.downsample.0", "layer4.1.conv2"],
        ["layer4.1.conv1"],
        ["fc"],
    ];

    [Fact]
    public void Resnet18_has_NNIs_13_sets_in_order()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);
        output.WriteLine($"resnet18 built in {graph.BuildTime.TotalMilliseconds:0} ms");
        output.WriteLine(graph.ChannelDependency.ToCsv());

        Assert.Empty(graph.Problems);
        var sets = graph.ChannelDependency.Sets.Select(s => s.ToArray()).ToArray();
        Assert.Equal(NniResnet18Sets, sets);
        Assert.Equal(13, graph.Groups.Count);
        Assert.Equal(21, graph.Producers.Count);
        Assert.All(graph.Groups, g => Assert.True(g.IsPrunable));
    }

    [Fact]
    public void Resnet18_mappings_and_followers()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);

        Assert.Equal(ChannelMapping.Identity, graph.Edge("conv1", "layer1.0.conv1")!.Mapping);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("layer4.1.conv2", "fc")!.Mapping);
        Assert.Equal(EdgeRole.Consumer, graph.Edge("layer4.1.conv2", "fc")!.Role);
        // conv1's channels reach every consumer of the first stage and the second stage's entry.
        Assert.Equal(["layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.downsample.0"],
            graph.ConsumersOf("conv1").Select(e => e.Target));
        Assert.Equal(["bn1"], graph.FollowersOf("conv1"));
        Assert.Equal(["layer2.0.downsample.1"], graph.FollowersOf("layer2.0.downsample.0"));
        Assert.Equal(["layer3.0.bn1"], graph.FollowersOf("layer3.0.conv1"));
        Assert.Equal(["layer3.0.conv2"], graph.ConsumersOf("layer3.0.conv1").Select(e => e.Target));

        var stage1 = graph.GroupOf("layer1.1.conv2");
        Assert.Equal(["conv1", "layer1.0.conv2", "layer1.1.conv2"], stage1.Producers);
        Assert.Equal(["bn1", "layer1.0.bn2", "layer1.1.bn2"], stage1.Followers);
        Assert.Equal(64, stage1.Channels);
        Assert.All(graph.Edges, e => Assert.Equal(MappingKind.Identity, e.Mapping.Kind));
    }

    [Fact]
    public void Resnet18_layers_are_described_in_execution_order()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);

        Assert.Equal("conv1", graph.Layers[0].Name);
        var conv1 = graph.Layer("conv1");
        Assert.Equal(("Conv2d", 3L, 64L, 1L), (conv1.Type, conv1.InChannels!.Value, conv1.OutChannels!.Value, conv1.Groups!.Value));
        Assert.Equal([1L, 3, 224, 224], conv1.InputShape);
        Assert.Equal([1L, 64, 112, 112], conv1.OutputShape);
        Assert.Equal(64, graph.Layer("bn1").NumFeatures);
        var fc = graph.Layer("fc");
        Assert.Equal((512L, 1000L), (fc.InFeatures!.Value, fc.OutFeatures!.Value));
        Assert.Equal("fc", graph.Layers[^1].Name);
        var downsample = graph.Layer("layer2.0.downsample.0");
        Assert.True(graph.Layer("layer2.0.bn2").Index < downsample.Index);
        Assert.All(graph.Layers, l => Assert.Equal(1, l.CallCount));
    }

    [Fact]
    public void Build_restores_training_flags_and_leaves_no_hooks()
    {
        using var model = models.resnet18();
        model.train();
        model.named_modules().First(m => m.name == "layer1.0.bn1").module.eval();
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);

        Assert.True(model.training);
        Assert.False(model.named_modules().First(m => m.name == "layer1.0.bn1").module.training);
        Assert.True(model.named_modules().First(m => m.name == "layer1.0.bn2").module.training);
        // No hook left: a normal forward gives finite, non-zero logits.
        model.eval();
        using var input = torch.ones(1, 3, 64, 64);
        using var logits = model.call(input);
        Assert.False(logits.isnan().any().item<bool>());
        Assert.True(logits.abs().sum().item<float>() > 0);
        Assert.Equal(13, graph.Groups.Count);
    }

    [Theory]
    [InlineData("resnet34", 37, 21)]
    [InlineData("resnet50", 54, 38)]
    public void Deeper_resnets_build_without_problems(string name, int producers, int sets)
    {
        using var model = name == "resnet34" ? models.resnet34() : models.resnet50();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);
        output.WriteLine($"{name} built in {graph.BuildTime.TotalMilliseconds:0} ms");
        output.WriteLine(graph.ChannelDependency.ToCsv());

        Assert.Empty(graph.Problems);
        Assert.Equal(producers, graph.Producers.Count);
        Assert.Equal(sets, graph.ChannelDependency.Sets.Count);
        Assert.All(graph.Edges, e => Assert.Equal(MappingKind.Identity, e.Mapping.Kind));
    }
}
