using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Tests.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Inference;

[Trait("Category", "Numeric")]
public sealed class InferenceFormTests
{
    private static readonly long[] FashionShape = [1, 1, 28, 28];
    private static readonly long[] TinyShape = [1, 3, 32, 32];

    [Fact]
    public void FoldingFashionCnnKeepsTheOutputAndRemovesEveryBatchNorm()
    {
        var (model, reference) = PruningFixtures.Twins(() => new FashionCnn());
        var folded = BatchNormFolder.Fold(model, ModelGraph.Build(model, FashionShape), NullLogger.Instance);

        // FashionCnn holds its layers in module-typed fields, so each BatchNorm is replaced by an Identity.
        Assert.Equal([new("conv1", "bn1", true), new("conv2", "bn2", true), new("conv3", "bn3", true)], folded);
        Assert.IsType<Identity>(PruningFixtures.Modules(model)["bn2"]);
        Assert.All(new[] { "conv1", "conv2", "conv3" }, n => Assert.NotNull(((Conv2d)PruningFixtures.Modules(model)[n]).bias));
        AssertSameOutput(reference, model, FashionShape, 1e-4);
    }

    [Fact]
    public void FoldingAResidualNetFoldsStemBlocksAndShortcut()
    {
        var (model, reference) = PruningFixtures.Twins(() => new TinyResNet());
        var folded = BatchNormFolder.Fold(model, ModelGraph.Build(model, TinyShape), NullLogger.Instance);

        Assert.Equal(new[]
        {
            ("conv1", "bn1"), ("layer1.conv1", "layer1.bn1"), ("layer1.conv2", "layer1.bn2"),
            ("layer2.downsample.0", "layer2.downsample.1"), ("layer2.conv1", "layer2.bn1"), ("layer2.conv2", "layer2.bn2"),
        }.OrderBy(p => p.Item1), folded.Select(f => (f.Conv, f.BatchNorm)).OrderBy(p => p.Conv));
        Assert.All(folded, f => Assert.True(f.Removed));
        Assert.DoesNotContain(model.named_modules(), m => m.module is BatchNorm2d);
        Assert.IsType<Identity>(PruningFixtures.Modules(model)["layer2.downsample.1"]);
        AssertSameOutput(reference, model, TinyShape, 1e-4);
    }

    [Fact]
    public void FoldingReachesTheBatchNormAfterADepthwiseConv()
    {
        var (model, reference) = PruningFixtures.Twins(() => new Trainer.Core.Tests.Graph.MobileBlockNet());
        long[] shape = [1, 3, 16, 16];
        var folded = BatchNormFolder.Fold(model, ModelGraph.Build(model, shape), NullLogger.Instance);

        Assert.Equal([("stem", "bn0"), ("expand", "bn1"), ("depthwise", "bn2"), ("project", "bn3")],
            folded.Select(f => (f.Conv, f.BatchNorm)));
        AssertSameOutput(reference, model, shape, 1e-4);
    }

    [Fact]
    public void FoldedWeightsAreComputedInDoublePrecision()
    {
        torch.manual_seed(3);
        var conv = nn.Conv2d(2, 3, 1, bias: false);
        var bn = nn.BatchNorm2d(3, eps: 1e-5);
        using (no_grad())
        {
            bn.weight.copy_(torch.tensor(new[] { 2f, 0.5f, 1f }));
            bn.bias!.copy_(torch.tensor(new[] { 0.1f, -0.2f, 0.3f }));
            bn.running_mean!.copy_(torch.tensor(new[] { 1f, 2f, 3f }));
            bn.running_var!.copy_(torch.tensor(new[] { 4f, 0.25f, 1f }));
        }
        var w = conv.weight.detach().clone();
        BatchNormFolder.FoldPair(conv, bn);

        var scale = new[] { 2 / Math.Sqrt(4 + 1e-5), 0.5 / Math.Sqrt(0.25 + 1e-5), 1 / Math.Sqrt(1 + 1e-5) };
        var expectedBias = new[] { -1 * scale[0] + 0.1, -2 * scale[1] - 0.2, -3 * scale[2] + 0.3 };
        for (int o = 0; o < 3; o++)
        {
            Assert.Equal(expectedBias[o], conv.bias!.data<float>()[o], 5);
            for (int i = 0; i < 2; i++)
                Assert.Equal(w[o, i, 0, 0].item<float>() * scale[o], conv.weight[o, i, 0, 0].item<float>(), 5);
        }
    }

    [Fact]
    public void ChannelsLastWeightsGiveTheSameOutputInChannelsLastLayout()
    {
        var (model, reference) = PruningFixtures.Twins(() => new TinyResNet());
        int converted = ChannelsLast.ConvertConvWeights(model);

        // Six convs; the 1x1 shortcut's weight [32,16,1,1] is channels-last and contiguous at once, so five change.
        Assert.Equal(5, converted);
        Assert.All(model.named_modules().Select(m => m.module).OfType<Conv2d>(), c => Assert.True(ChannelsLast.IsChannelsLast(c.weight)));
        AssertSameOutput(reference, model, TinyShape, 1e-5);

        // The layout reaches the activations: a conv with a channels-last weight returns a channels-last output.
        var conv = (Conv2d)PruningFixtures.Modules(model)["layer1.conv1"];
        using var noGrad = no_grad();
        using var output = conv.call(torch.randn(1, 16, 8, 8));
        Assert.True(ChannelsLast.IsChannelsLast(output));
        Assert.Equal(5, ChannelsLast.RestoreConvWeights(model));
        Assert.All(model.named_modules().Select(m => m.module).OfType<Conv2d>(), c => Assert.True(c.weight.is_contiguous()));
    }

    [Fact]
    public void ChannelsLastConvertKeepsShapeAndValues()
    {
        using var x = torch.randn(2, 3, 4, 5);
        using var y = ChannelsLast.Convert(x);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(new long[] { 60, 1, 15, 3 }, y.stride());
        Assert.True(torch.equal(x, y).all().item<bool>());
        Assert.Throws<ArgumentException>(() => ChannelsLast.Convert(torch.randn(3, 4)));
    }

    [Fact]
    public void ApplyFoldsAndUsesTheRequestedLayout()
    {
        var (model, reference) = PruningFixtures.Twins(() => new TinyResNet());
        var report = InferenceForm.Apply(model, TinyShape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast });

        Assert.Equal(6, report.FoldedBatchNorms.Count);
        Assert.Equal(MemoryLayout.ChannelsLast, report.Layout);
        Assert.Null(report.LayoutGain);
        Assert.InRange(report.MaxAbsDifference, 0, 1e-4);
        AssertSameOutput(reference, model, TinyShape, 1e-4);
    }

    [Fact]
    public void ApplyRefusesAFoldThatChangesTheOutput()
    {
        var (model, _) = PruningFixtures.Twins(() => new SharedConvOutputNet());
        var e = Assert.Throws<InvalidOperationException>(() =>
            InferenceForm.Apply(model, TinyShape, new InferenceFormOptions { Layout = MemoryLayout.Contiguous }));
        Assert.Contains("Tolerance", e.Message);
    }

    [Fact]
    public void ApplyRejectsABadInputShape() =>
        Assert.Throws<ArgumentException>(() => InferenceForm.Apply(new TinyResNet(), [1, 0, 32, 32]));

    private static void AssertSameOutput(nn.Module<Tensor, Tensor> expected, nn.Module<Tensor, Tensor> actual, long[] shape, double tolerance)
    {
        torch.manual_seed(11);
        using var input = torch.randn(shape);
        using var a = PruningFixtures.Eval(expected, input);
        using var b = PruningFixtures.Eval(actual, input);
        double diff = (a - b).abs().max().item<float>();
        Assert.InRange(diff, 0, tolerance);
        Assert.True(a.abs().max().item<float>() > 1e-3, "the output must not be trivially zero");
    }
}
