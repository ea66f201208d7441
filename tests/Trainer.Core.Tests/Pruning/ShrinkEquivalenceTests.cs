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
    [Trait("Category", "Numeric")]
    public void UNet_with_transposed_conv_upsample_and_concat_skips_shrunk_equals_masked()
    {
        var report = AssertShrunkEqualsMasked(() => new UNetLike(), [1, 3, 16, 16]);
        // up2 (ConvTranspose2d, weight [in, out, k, k]) loses inputs with the bottleneck and outputs with its own mask.
        var up = report.Layer("up2");
        Assert.Equal((16L, 8L, 16L, 8L), (up.InBefore, up.InAfter, up.OutBefore, up.OutAfter));
        // dec2 reads up2's 8 kept channels and enc2's 8 kept ones at offset 16; dec1 reads dec2's 8 and enc1's 4 at offset 16.
        Assert.Equal((32L, 16L), (report.Layer("dec2").InBefore, report.Layer("dec2").InAfter));
        Assert.Equal((24L, 12L), (report.Layer("dec1").InBefore, report.Layer("dec1").InAfter));
    }

    [Fact]
    [Trait("Category", "Numeric")]
    public void Conv1d_model_shrunk_equals_masked()
    {
        var report = AssertShrunkEqualsMasked(() => new Conv1dNet(), [1, 4, 32]);
        var depthwise = report.Layer("depthwise");
        Assert.Equal((32L, 16L, 32L, 16L), (depthwise.InBefore, depthwise.InAfter, depthwise.OutBefore, depthwise.OutAfter));
        // The Linear on [N, T, C] after a permute loses inputs with conv2 and outputs with its own mask.
        Assert.Equal((32L, 16L, 24L, 12L), (report.Layer("mix").InBefore, report.Layer("mix").InAfter,
            report.Layer("mix").OutBefore, report.Layer("mix").OutAfter));
    }

    [Fact]
    [Trait("Category", "Numeric")]
    public void Concat_meeting_a_residual_add_and_a_squeeze_excitation_multiply_shrunk_equals_masked()
    {
        var report = AssertShrunkEqualsMasked(() => new ConcatResidualSeNet(), [1, 3, 8, 8]);
        // One group over 16 channels: branchA and branchB lose 4 of 8 each, the shortcut and the gate's excite conv the same 8.
        foreach (var (layer, before, after) in new[] { ("branchA", 8L, 4L), ("branchB", 8L, 4L), ("shortcut", 16L, 8L), ("excite", 16L, 8L) })
            Assert.Equal((before, after), (report.Layer(layer).OutBefore, report.Layer(layer).OutAfter));
        Assert.Equal((16L, 8L), (report.Layer("bnSum").OutBefore, report.Layer("bnSum").OutAfter));
        Assert.Equal((16L, 8L), (report.Layer("squeeze").InBefore, report.Layer("squeeze").InAfter));
    }

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
