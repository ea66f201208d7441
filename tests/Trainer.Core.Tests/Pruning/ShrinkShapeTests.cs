using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.PruningFixtures;

namespace Trainer.Core.Tests.Pruning;

/// <summary>Exact shapes, size fields and parameter counts after shrinking, and training afterwards.</summary>
public sealed class ShrinkShapeTests
{
    private static bool[] FirstHalf(int channels) => Enumerable.Range(0, channels).Select(c => c % 2 == 0).ToArray();

    [Fact]
    public void FashionCnn_conv2_64_to_32_shrinks_conv2_bn2_and_conv3_inputs()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        var report = ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = FirstHalf(64) });

        var m = Modules(model);
        var conv2 = (Conv2d)m["conv2"];
        var bn2 = (BatchNorm2d)m["bn2"];
        var conv3 = (Conv2d)m["conv3"];
        Assert.Equal([32L, 32, 3, 3], conv2.weight.shape);
        Assert.Equal([32L], conv2.bias!.shape);
        Assert.Equal((32L, 32L), (conv2.in_channels, conv2.out_channels));
        Assert.Equal(32L, bn2.num_features);
        Assert.Equal([32L], bn2.weight!.shape);
        Assert.Equal([32L], bn2.running_mean!.shape);
        Assert.Equal([32L], bn2.running_var!.shape);
        Assert.Equal([128L, 32, 3, 3], conv3.weight.shape);
        Assert.Equal((32L, 128L), (conv3.in_channels, conv3.out_channels));

        const long before = 320 + 64 + 18_496 + 128 + 73_856 + 256 + 1_605_888 + 2_570;
        const long after = before - (18_496 - 9_248) - (128 - 64) - (73_856 - 36_992);
        Assert.Equal((before, after), (report.ModelParamsBefore, report.ModelParamsAfter));
        Assert.Equal(after, model.parameters().Sum(p => p.numel()));
        Assert.Equal(new LayerShrink("conv2", "Conv2d", 32, 32, 64, 32, 18_496, 9_248), report.Layer("conv2"));
        Assert.Equal(new LayerShrink("conv3", "Conv2d", 64, 32, 128, 128, 73_856, 36_992), report.Layer("conv3"));
        Assert.Equal(["conv2", "bn2", "conv3"], report.Layers.Select(l => l.Name));
    }

    [Fact]
    public void FashionCnn_conv3_128_to_64_shrinks_fc1_by_blocks_of_49()
    {
        using var model = new FashionCnn();
        var fc1Before = ((Linear)Modules(model)["fc1"]).weight.detach().clone();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv3"] = FirstHalf(128) });

        var fc1 = (Linear)Modules(model)["fc1"];
        Assert.Equal([256L, 64 * 49], fc1.weight.shape);
        Assert.Equal((64L * 49, 256L), (fc1.in_features, fc1.out_features));
        // Kept channel 2 (the second kept) was features [98, 147); it is now features [49, 98).
        Assert.True(fc1.weight.narrow(1, 49, 49).equal(fc1Before.narrow(1, 98, 49)).all().item<bool>());
        Assert.Equal([64L, 64, 3, 3], ((Conv2d)Modules(model)["conv3"]).weight.shape);
    }

    [Fact]
    public void Shrunk_FashionCnn_trains_with_a_new_optimizer_and_can_be_shrunk_again()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv1"] = FirstHalf(32), ["fc1"] = FirstHalf(256) });
        Assert.True(double.IsFinite(TrainStep(model, [4, 1, 28, 28])));
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));

        var again = ModelGraph.Build(model, [1, 1, 28, 28]);
        Assert.Equal(16L, again.Layer("conv1").Channels);
        var report = ChannelShrinker.Shrink(model, again, new Dictionary<string, bool[]> { ["conv2"] = FirstHalf(64) });
        Assert.Equal((16L, 32L), (report.Layer("conv2").InAfter, report.Layer("conv2").OutAfter));
        Assert.True(double.IsFinite(TrainStep(model, [4, 1, 28, 28])));
    }

    [Fact]
    public void Frozen_parameters_stay_frozen()
    {
        using var model = new FashionCnn();
        foreach (var p in Modules(model)["conv3"].parameters()) p.requires_grad_(false);
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = FirstHalf(64), ["conv3"] = FirstHalf(128) });
        Assert.All(Modules(model)["conv3"].parameters(), p => Assert.False(p.requires_grad));
        Assert.All(Modules(model)["conv2"].parameters(), p => Assert.True(p.requires_grad));
    }

    [Fact]
    public void Masks_that_keep_everything_change_nothing()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        var report = ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = Enumerable.Repeat(true, 64).ToArray() });
        Assert.Empty(report.Layers);
        Assert.Equal(report.ModelParamsBefore, report.ModelParamsAfter);
    }

    [Fact]
    public void Kept_counts_that_are_not_multiples_of_RoundTo_are_reported_not_refused()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, [1, 1, 28, 28]);
        var mask = Enumerable.Range(0, 64).Select(c => c < 30).ToArray();
        var report = ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv2"] = mask, ["conv1"] = FirstHalf(32) });
        Assert.Equal(["conv2"], report.NotRounded);
        Assert.Equal(30L, report.Layer("conv2").OutAfter);
    }

    [Fact]
    public void A_shape_failure_after_shrinking_names_the_layer()
    {
        using var model = new FixedReshapeNet();
        var graph = ModelGraph.Build(model, [1, 1, 4, 4]);
        Assert.Empty(graph.Problems);
        var error = Assert.Throws<ModelAnalysisException>(() =>
            ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]> { ["conv"] = FirstHalf(8) }));
        Assert.Equal("head", error.LayerName);
        Assert.Contains("'head'", error.Message);
        Assert.True(model.training);
    }
}

/// <summary>conv 1→8 then a head whose forward reshapes to a fixed 8*16 features before its Linear.</summary>
internal sealed class FixedReshapeNet : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv = nn.Conv2d(1, 8, 3, padding: 1);
    private readonly FixedReshapeHead head = new();

    public FixedReshapeNet() : base(nameof(FixedReshapeNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => head.call(conv.call(x));
}

/// <summary>reshape(batch, 128) then Linear(128, 3): functional code with a fixed channel count.</summary>
internal sealed class FixedReshapeHead : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc = nn.Linear(128, 3);

    public FixedReshapeHead() : base(nameof(FixedReshapeHead)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call(x.reshape(x.shape[0], 128));
}
