using TorchSharp.Modules;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;
using static TorchSharp.torchvision;
using static Trainer.Core.Tests.Pruning.PruningFixtures;

namespace Trainer.Core.Tests.Pruning;

/// <summary>Masks the shrinker refuses, with messages naming the layers; a refused mask leaves the model unchanged.</summary>
public sealed class ShrinkValidationTests
{
    private static bool[] Keep(int channels, Func<int, bool> keep) => Enumerable.Range(0, channels).Select(keep).ToArray();

    [Fact]
    public void Mismatched_masks_in_a_coupled_group_name_the_layers_that_disagree()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);
        var masks = new Dictionary<string, bool[]>
        {
            ["conv1"] = Keep(64, c => c < 32),
            ["layer1.0.conv2"] = Keep(64, c => c >= 32),
        };
        var error = Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph, masks));
        Assert.Contains("conv1, layer1.0.conv2, layer1.1.conv2", error.Message);
        Assert.Contains("'layer1.0.conv2' differs from 'conv1'", error.Message);
        Assert.Contains("'layer1.1.conv2' has no mask", error.Message);
        Assert.Equal(64L, ((Conv2d)Modules(model)["conv1"]).weight.shape[0]);

        var fixedMasks = MaskConflict.Fix(graph, masks, ConflictMode.Intersection).Masks;
        Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph, fixedMasks.ToDictionary()));
    }

    [Fact]
    public void The_output_layer_is_refused_unless_allowed()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        var masks = new Dictionary<string, bool[]> { ["fc2"] = Keep(10, c => c < 5) };
        var error = Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph, masks));
        Assert.Contains("'fc2'", error.Message);
        Assert.Contains("AllowOutputLayer", error.Message);

        ChannelShrinker.Shrink(model, graph, masks, new ShrinkOptions { AllowOutputLayer = true });
        using var y = Eval(model, TorchSharp.torch.zeros(1, 1, 28, 28));
        Assert.Equal([1L, 5L], y.shape);
    }

    [Fact]
    public void A_group_with_graph_problems_is_refused_with_the_problem_text()
    {
        using var model = new PReluNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);
        var problem = Assert.Single(graph.GroupOf("conv1").Problems);
        var error = Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(8, c => c < 4) }));
        Assert.Contains(problem.Message, error.Message);
    }

    [Fact]
    public void Grouped_conv_divisor_and_balance_are_enforced()
    {
        using var model = new GroupedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);
        var notMultiple = Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(16, c => c < 6) }));
        Assert.Contains("'conv1' needs a multiple of 4 (grouped conv or GroupNorm 'grouped')", notMultiple.Message);

        var unbalanced = Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(16, c => c < 8) }));
        Assert.Contains("grouped conv 'grouped'", unbalanced.Message);
        Assert.Contains("4/4/0/0", unbalanced.Message);

        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(16, c => c % 4 < 2) });
        var grouped = (Conv2d)Modules(model)["grouped"];
        Assert.Equal([32L, 2, 3, 3], grouped.weight.shape);
        Assert.Equal((8L, 32L, 4L), (grouped.in_channels, grouped.out_channels, grouped.groups));
    }

    [Fact]
    public void Bad_masks_are_refused_by_name()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        Assert.Contains("'bn2'", Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["bn2"] = Keep(64, c => c < 8) })).Message);
        Assert.Contains("'nope'", Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["nope"] = Keep(64, c => c < 8) })).Message);
        Assert.Contains("63 entries", Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = Keep(63, c => c < 8) })).Message);
        Assert.Contains("keeps no channel", Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = Keep(64, _ => false) })).Message);
    }

    [Fact]
    public void A_graph_built_before_an_earlier_shrink_is_refused_as_stale()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = Keep(64, c => c < 32) });
        var error = Assert.Throws<ArgumentException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = Keep(64, c => c < 16) }));
        Assert.Contains("stale", error.Message);
        Assert.Contains("'conv2'", error.Message);
    }
}
