using TorchSharp;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>What the graph cannot analyse is reported with the layer and the reason, never guessed.</summary>
public sealed class ProblemTests
{
    [Fact]
    public void A_module_called_twice_is_a_problem_and_blocks_the_producer_feeding_it()
    {
        using var model = new SharedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 5, 5]);

        var reuse = Assert.Single(graph.Problems, p => p.Kind == GraphProblemKind.ModuleReused);
        Assert.Equal("shared", reuse.Layer);
        Assert.Contains("ran 2 times", reuse.Message);
        Assert.Equal(2, graph.Layer("shared").CallCount);
        Assert.DoesNotContain("shared", graph.Producers);
        Assert.Equal(["stem", "head"], graph.Producers);
        Assert.False(graph.GroupOf("stem").IsPrunable);
        Assert.True(graph.GroupOf("head").IsPrunable);
    }

    [Fact]
    public void A_wrong_input_shape_names_the_layer_type_and_input()
    {
        using var model = new FashionCnn();
        var error = Assert.Throws<ModelAnalysisException>(() => ModelGraph.Build(model, [1, 3, 28, 28]));

        Assert.StartsWith("layer 'conv1' (Conv2d) failed on input [1,3,28,28]: ", error.Message);
        Assert.NotNull(error.InnerException);
        // The failed analysis left no hook and the training flag as it was.
        Assert.True(model.training);
        model.eval();
        using var input = torch.ones(1, 1, 28, 28);
        using var logits = model.call(input);
        Assert.True(logits.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void A_wrong_spatial_size_names_the_linear_layer()
    {
        using var model = new FashionCnn();
        var error = Assert.Throws<ModelAnalysisException>(() => ModelGraph.Build(model, [1, 1, 32, 32]));

        Assert.StartsWith("layer 'fc1' (Linear) failed on input [1,8192]: ", error.Message);
    }

    [Fact]
    public void A_failure_in_functional_code_names_the_enclosing_module()
    {
        using var model = new MismatchedAddNet();
        var error = Assert.Throws<ModelAnalysisException>(() => ModelGraph.Build(model, [1, 3, 4, 4]));

        Assert.StartsWith("layer 'block' (MismatchedAddBlock) failed on input [1,3,4,4]: ", error.Message);
    }

    [Fact]
    public void A_torchvision_model_with_the_wrong_channel_count_names_its_first_conv()
    {
        using var model = models.resnet18();
        var error = Assert.Throws<ModelAnalysisException>(() => ModelGraph.Build(model, [1, 2, 64, 64]));
        Assert.StartsWith("layer 'conv1' (Conv2d) failed on input [1,2,64,64]: ", error.Message);
    }

    [Fact]
    public void NaN_made_without_a_marker_is_reported()
    {
        using var model = new SelfDivideNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems, p => p.Kind == GraphProblemKind.NanWithoutMarker);
        Assert.Equal("conv2", problem.Layer);
        Assert.False(graph.GroupOf("conv1").IsPrunable);
    }

    [Fact]
    public void A_channel_shuffle_is_refused_and_located()
    {
        using var model = new ChannelShuffleNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems);
        Assert.Equal(GraphProblemKind.UnsupportedMapping, problem.Kind);
        Assert.Equal(("conv2", "conv1"), (problem.Layer, problem.Producer));
        Assert.Contains("reach 'conv2'", problem.Message);
        Assert.Contains("functional code in '(model)' (ChannelShuffleNet) before 'conv2'", problem.Message);
        Assert.Null(graph.Edge("conv1", "conv2"));
        Assert.False(graph.GroupOf("conv1").IsPrunable);
    }

    [Fact]
    public void Bad_input_shape_arguments_are_rejected()
    {
        using var model = new FashionCnn();
        Assert.Throws<ArgumentException>(() => ModelGraph.Build(model, []));
        Assert.Throws<ArgumentException>(() => ModelGraph.Build(model, [1, 0, 28, 28]));
    }

    [Fact]
    public void A_layout_changing_module_is_named()
    {
        using var model = new ShuffleModuleNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var problem = Assert.Single(graph.Problems);
        Assert.Equal((GraphProblemKind.UnsupportedMapping, "conv2", "conv1"), (problem.Kind, problem.Layer, problem.Producer));
        Assert.Contains("'shuffle' (ChannelShuffle) changes the channel layout", problem.Message);
    }

    [Fact]
    public void A_parameterised_module_of_unknown_type_blocks_its_producer()
    {
        using var model = new PReluNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        Assert.Equal(LayerKind.Unknown, graph.Layer("prelu").Kind);
        var problem = Assert.Single(graph.Problems);
        Assert.Equal((GraphProblemKind.UnsupportedLayer, "prelu", "conv1"), (problem.Kind, problem.Layer, problem.Producer));
        Assert.Equal(EdgeRole.Unsupported, graph.Edge("conv1", "prelu")!.Role);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("conv1", "conv2")!.Mapping);
        Assert.False(graph.GroupOf("conv1").IsPrunable);
        Assert.True(graph.GroupOf("conv2").IsPrunable);
    }
}
