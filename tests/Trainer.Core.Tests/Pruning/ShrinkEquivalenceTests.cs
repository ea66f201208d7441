using System.Diagnostics;
using TorchSharp;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static TorchSharp.torchvision;
using static Trainer.Core.Tests.Pruning.PruningFixtures;

namespace Trainer.Core.Tests.Pruning;

/// <summary>A shrunk model computes what the same model computes with the pruned channels zeroed (eval mode).</summary>
public sealed class ShrinkEquivalenceTests(ITestOutputHelper output)
{
    private ShrinkReport AssertShrunkEqualsMasked<T>(Func<T> create, long[] inputShape) where T : nn.Module<Tensor, Tensor>
    {
        var (masked, shrunk) = Twins(create);
        using var _ = masked;
        var graph = ModelGraph.Build(shrunk, inputShape);
        Assert.Empty(graph.Problems);
        var masks = HalfMasks(graph);
        Assert.NotEmpty(masks);

        ZeroPruned(masked, graph, masks);
        var report = ChannelShrinker.Shrink(shrunk, graph, masks);
        output.WriteLine($"{typeof(T).Name}: {masks.Count} producers masked, params {report.ModelParamsBefore:N0} → " +
                         $"{report.ModelParamsAfter:N0}, {report.Layers.Count} layers changed, {report.Elapsed.TotalMilliseconds:0} ms");

        torch.manual_seed(99);
        var input = torch.randn([2, .. inputShape[1..]]);
        var expected = Eval(masked, input);
        var actual = Eval(shrunk, input);
        Assert.Equal(expected.shape, actual.shape);
        var gap = (expected - actual).abs().max().item<float>();
        output.WriteLine($"max |masked - shrunk| = {gap:E2}, max |output| = {expected.abs().max().item<float>():F3}");
        Assert.True(expected.allclose(actual, rtol: 1e-4, atol: 1e-5), $"max difference {gap}");

        foreach (var (producer, mask) in masks)
            Assert.Equal(mask.Count(k => k), report.Layer(producer).OutAfter);
        Assert.Equal(report.ModelParamsAfter, shrunk.parameters().Sum(p => p.numel()));
        Assert.True(report.ModelParamsAfter < report.ModelParamsBefore);
        TrainStep(shrunk, [2, .. inputShape[1..]]);
        shrunk.Dispose();
        return report;
    }

    [Fact]
    public void FashionCnn_shrunk_equals_masked() => AssertShrunkEqualsMasked(() => new FashionCnn(), [1, 1, 28, 28]);

    [Fact]
    public void Resnet18_shrunk_equals_masked() => AssertShrunkEqualsMasked(() => models.resnet18(), [1, 3, 64, 64]);

    [Fact]
    public void Mobilenet_v2_shrunk_equals_masked()
    {
        var report = AssertShrunkEqualsMasked(() => models.mobilenet_v2(), [1, 3, 64, 64]);
        // A depthwise conv follows its producer: groups, in and out channels all shrink.
        var depthwise = report.Layer("features.2.conv.1.0");
        Assert.Equal((96L, 48L, 96L, 48L), (depthwise.InBefore, depthwise.InAfter, depthwise.OutBefore, depthwise.OutAfter));
    }

    [Fact]
    public void Concat_model_shrunk_equals_masked()
    {
        var report = AssertShrunkEqualsMasked(() => new TwoBranchConcatNet(), [1, 3, 6, 6]);
        // The merge conv reads 4 of branchA's channels and 2 of branchB's (at offset 8); bnMerged keeps the same 6.
        Assert.Equal((13L, 6L), (report.Layer("merge").InBefore, report.Layer("merge").InAfter));
        Assert.Equal((13L, 6L), (report.Layer("bnMerged").OutBefore, report.Layer("bnMerged").OutAfter));
    }

    [Fact]
    public void Grouped_conv_model_shrunk_equals_masked_with_balanced_masks() =>
        AssertShrunkEqualsMasked(() => new GroupedConvNet(), [1, 3, 6, 6]);

    [Fact]
    public void Resnet18_shrink_time()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);
        var masks = HalfMasks(graph);
        var clock = Stopwatch.StartNew();
        var report = ChannelShrinker.Shrink(model, graph, masks);
        clock.Stop();
        output.WriteLine($"resnet18 at 224: shrink of {masks.Count} producers ({report.Layers.Count} layers) took " +
                         $"{clock.Elapsed.TotalMilliseconds:0} ms (graph build {graph.BuildTime.TotalMilliseconds:0} ms); " +
                         $"params {report.ModelParamsBefore:N0} → {report.ModelParamsAfter:N0}");
        output.WriteLine(report.ToString());
        using var y = Eval(model, torch.zeros(1, 3, 224, 224));
        Assert.Equal([1L, 1000L], y.shape);
    }
}
