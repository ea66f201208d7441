using Xunit.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>Each architecture exported to ONNX gives ONNX Runtime outputs within 1e-4 of TorchSharp's, at batch 1 and 3.</summary>
public sealed class OnnxArchitectureExportTests(ITestOutputHelper output) : IDisposable
{
    private static readonly long[] FashionShape = [1, 1, 28, 28];
    private readonly OnnxScratch scratch = new();

    public void Dispose() => scratch.Dispose();

    private (Trainer.Core.Export.Onnx.OnnxExportResult Export, OnnxCheckResult Check) ExportAndCheck(nn.Module<Tensor, Tensor> model, long[] shape,
        double tolerance = 1e-4)
    {
        var result = scratch.ExportAndCheck(model, shape, tolerance);
        output.WriteLine($"max |ORT - TorchSharp| = {result.Check.MaxAbsDifference:g3} (outputs up to {result.Check.MaxAbsOutput:g3}), {result.Check.FileBytes} bytes, opset {result.Check.Opset}, " +
                         $"{result.Export.NodeCount} nodes");
        return result;
    }

    /// <summary>A deep untrained network amplifies float32 rounding (resnet50: TorchSharp's own float32 output differs from
    /// its float64 output by about 6e-5), so ONNX Runtime (another summation order) is held to three times that noise, at
    /// least 1e-4; the noise itself must stay small.</summary>
    private (Trainer.Core.Export.Onnx.OnnxExportResult Export, OnnxCheckResult Check) ExportAndCheckWithinOwnNoise(nn.Module<Tensor, Tensor> model, long[] shape)
    {
        double noise = OnnxScratch.Float32Noise(model, shape);
        Assert.InRange(noise, 0, 3e-4);
        double tolerance = Math.Max(1e-4, 3 * noise);
        var result = ExportAndCheck(model, shape, tolerance);
        output.WriteLine($"TorchSharp float32 against float64: {noise:g3}; tolerance {tolerance:g3}");
        Assert.InRange(result.Check.MaxAbsDifference, 0, tolerance);
        return result;
    }

    [Fact]
    public void FashionCnnMatchesOnnxRuntime()
    {
        random.manual_seed(1);
        using var model = OnnxTestModels.WithRandomNorms(new FashionCnn());
        var (export, check) = ExportAndCheck(model, FashionShape);

        Assert.Equal(2, check.InputsChecked);
        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal(17, check.Opset);
        Assert.Equal([1L, 10], export.OutputShape);
        // 3 conv, 3 BN, 4 ReLU, 2 maxpool, flatten, 2 Gemm, and the Identity naming the output.
        Assert.Equal(16, export.NodeCount);
        Assert.True(check.FileBytes > 4 * (6272 * 256), $"{check.FileBytes} bytes cannot hold fc1's float32 weights");
    }

    [Fact]
    public void ShrunkFashionCnnMatchesOnnxRuntime()
    {
        random.manual_seed(2);
        using var model = OnnxTestModels.WithRandomNorms(new FashionCnn());
        var graph = ModelGraph.Build(model, FashionShape);
        ChannelShrinker.Shrink(model, graph, new Dictionary<string, bool[]>
        {
            ["conv1"] = [.. Enumerable.Range(0, 32).Select(c => c % 2 == 0)],
            ["conv3"] = [.. Enumerable.Range(0, 128).Select(c => c < 40)],
        });
        var (export, check) = ExportAndCheck(model, FashionShape);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
        Assert.Equal(16, ((Conv2d)model.named_modules().Single(m => m.name == "conv1").module).weight!.shape[0]);
    }

    [Fact]
    public void LowRankFashionCnnMatchesOnnxRuntime()
    {
        random.manual_seed(3);
        using var model = OnnxTestModels.WithRandomNorms(new FashionCnn());
        LayerFactorizer.Factorize(model, "conv2", 8);
        LayerFactorizer.Factorize(model, "fc1", 16);
        var (export, check) = ExportAndCheck(model, FashionShape);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        // conv2 and fc1 each became two layers: 16 + 2 nodes.
        Assert.Equal(18, export.NodeCount);
    }

    [Fact]
    public void FoldedFashionCnnMatchesOnnxRuntime()
    {
        random.manual_seed(4);
        using var model = OnnxTestModels.WithRandomNorms(new FashionCnn());
        var report = InferenceForm.Apply(model, FashionShape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast });
        var (export, check) = ExportAndCheck(model, FashionShape);

        Assert.Equal(3, report.FoldedPairs.Count);
        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        // The three BatchNorms are gone: 16 - 3 nodes.
        Assert.Equal(13, export.NodeCount);
    }

    [Fact]
    public void ResNet18WithBasicBlocksMatchesOnnxRuntime()
    {
        random.manual_seed(5);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.resnet18(num_classes: 10), [1, 3, 32, 32]);
        var (export, check) = ExportAndCheck(model, [1, 3, 32, 32]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
        // 20 conv + 20 BN + 17 ReLU (stem, one per block's first conv, one after each of 8 adds) + 8 Add + maxpool + GAP + flatten + Gemm + Identity.
        Assert.Equal(20 + 20 + 17 + 8 + 5, export.NodeCount);
    }

    [Fact]
    public void ResNet18ShrunkToHalfItsMacsMatchesOnnxRuntime()
    {
        random.manual_seed(14);
        long[] shape = [1, 3, 32, 32];
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.resnet18(num_classes: 10), shape);
        var graph = ModelGraph.Build(model, shape);
        // Every group, residual ones included, narrowed by one ratio to half the MACs, widths in multiples of 16.
        var allocation = Trainer.Core.Latency.UniformAllocator.Allocate(model, graph, 0.5, roundTo: 16);
        ChannelShrinker.Shrink(model, graph, allocation.FirstChannelMasks(graph));
        var (export, check) = ExportAndCheck(model, shape);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
        Assert.InRange((double)Trainer.Core.Analysis.FlopsCounter.Count(model, shape).TotalFlops / allocation.FullMacs, 0.4, 0.5);
        Assert.True(((Conv2d)model.named_modules().Single(m => m.name == "conv1").module).weight!.shape[0] < 64);
    }

    [Fact]
    public void ResNet50WithBottlenecksMatchesOnnxRuntime()
    {
        random.manual_seed(6);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.resnet50(num_classes: 10), [1, 3, 64, 64]);
        var (export, _) = ExportAndCheckWithinOwnNoise(model, [1, 3, 64, 64]);
        // 53 conv + 53 BN + 1 + 16·3 ReLU + 16 Add + maxpool + GAP + flatten + Gemm + Identity.
        Assert.Equal(53 + 53 + 49 + 16 + 5, export.NodeCount);
    }

    [Fact]
    public void MobileNetV2WithInvertedResidualsMatchesOnnxRuntime()
    {
        random.manual_seed(7);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.mobilenet_v2(num_classes: 10), [1, 3, 64, 64]);
        var (export, check) = ExportAndCheck(model, [1, 3, 64, 64]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
        // 52 conv + 52 BN + 35 Clip (ReLU6) + 10 Add (the stride-1 blocks keeping their width) + GAP + Flatten + Gemm + Identity.
        Assert.Equal(52 + 52 + 35 + 10 + 4, export.NodeCount);
    }

    [Fact]
    public void GoogLeNetWithInceptionBranchesMatchesOnnxRuntime()
    {
        random.manual_seed(8);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.googlenet(num_classes: 10), [1, 3, 64, 64]);
        var (export, check) = ExportAndCheck(model, [1, 3, 64, 64]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
        // 57 conv + 57 BN + 57 ReLU + 4 stem/stage maxpools + 9 Inception blocks × (branch maxpool + Concat) + GAP + Flatten + Gemm + Identity.
        Assert.Equal(57 * 3 + 4 + 9 * 2 + 4, export.NodeCount);
    }

    [Fact]
    public void AdaptiveAveragePoolsWithUnevenAndOverlappingWindowsMatchOnnxRuntime()
    {
        random.manual_seed(11);
        // 5x5 → 3x3: uneven windows [0,2) [1,4) [3,5); then 3x3 → 7x7: overlapping windows larger than the input.
        using var model = nn.Sequential(("conv", nn.Conv2d(3, 4, 3, padding: 1)), ("pool", nn.AdaptiveAvgPool2d([3, 3])),
            ("up", nn.AdaptiveAvgPool2d([7, 7])), ("flatten", nn.Flatten()), ("fc", nn.Linear(4 * 49, 5)));
        var (export, check) = ExportAndCheck(model, [1, 3, 5, 5]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-5);
        Assert.Equal([1L, 5], export.OutputShape);
        // Conv + 2 × (MatMul columns, MatMul rows) + Flatten + Gemm + Identity.
        Assert.Equal(1 + 4 + 3, export.NodeCount);
    }

    [Fact]
    public void AlexNetAtASmallInputWhoseAveragePoolUpsamplesMatchesOnnxRuntime()
    {
        random.manual_seed(12);
        // At 64x64 AlexNet's features end at 1x1 and its AdaptiveAvgPool2d(6x6) spreads them: the family's small-input case.
        using var model = torchvision.models.alexnet(num_classes: 10);
        var (export, check) = ExportAndCheck(model, [1, 3, 64, 64]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
    }

    [Fact]
    public void Vgg11WithBatchNormAtASmallInputMatchesOnnxRuntime()
    {
        random.manual_seed(13);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.vgg11_bn(num_classes: 10), [1, 3, 32, 32]);
        var (export, check) = ExportAndCheck(model, [1, 3, 32, 32]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 10], export.OutputShape);
    }

    [Fact]
    public void InceptionV3WithPooledBranchesMatchesOnnxRuntime()
    {
        random.manual_seed(10);
        // 75x75 is the smallest input Inception-v3's stride-2 stages accept.
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.inception_v3(num_classes: 10), [1, 3, 75, 75]);
        var (export, _) = ExportAndCheckWithinOwnNoise(model, [1, 3, 75, 75]);
        Assert.Equal([1L, 10], export.OutputShape);
        // 94 conv blocks × (Conv, BatchNormalization, Relu) + 2 stem max pools + 11 blocks × Concat + 9 functional average
        // pools (3 InceptionA, 4 InceptionC, 2 InceptionE) + 2 functional max pools (InceptionB, D) + GAP, Flatten, Gemm,
        // Identity; the auxiliary classifier is not called in the forward and is not exported.
        Assert.Equal(94 * 3 + 2 + 11 + 9 + 2 + 4, export.NodeCount);
    }

    [Fact]
    public void MobileNetV3SmallWithSqueezeExcitationMatchesOnnxRuntime()
    {
        random.manual_seed(9);
        using var model = OnnxTestModels.WithCalibratedNorms(torchvision.models.mobilenet_v3_small(), [1, 3, 64, 64]);
        var (export, check) = ExportAndCheck(model, [1, 3, 64, 64]);

        Assert.InRange(check.MaxAbsDifference, 0, 1e-4);
        Assert.Equal([1L, 1000], export.OutputShape);
    }
}
