using Plugins.LowRank;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace LowRank.Tests;

/// <summary>Tiny models and requests for running the compressor through the core's model editor.</summary>
internal static class CompressorFixtures
{
    public static readonly long[] InputShape = [1, 2, 6, 6];

    /// <summary>conv1 2→6 3×3, ReLU, conv2 6→8 3×3, ReLU, flatten, fc 288→5. Full ranks: conv1 6, conv2 8, fc 5.</summary>
    public static nn.Module<Tensor, Tensor> SmallCnn(int seed)
    {
        manual_seed(seed);
        return nn.Sequential(
            ("conv1", nn.Conv2d(2, 6, 3, padding: 1)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(6, 8, 3, padding: 1)), ("relu2", nn.ReLU()),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(8 * 6 * 6, 5)));
    }

    /// <summary>A conv 2→12 3×3 and its ReLU, read by a 1×1 head conv 12→3.</summary>
    public static nn.Module<Tensor, Tensor> ConvRelu(int seed)
    {
        manual_seed(seed);
        return nn.Sequential(("conv", nn.Conv2d(2, 12, 3, padding: 1)), ("relu", nn.ReLU()), ("head", nn.Conv2d(12, 3, 1)));
    }

    /// <summary>Random images with inputs of very different scale per channel, and dummy labels.</summary>
    public static TensorBatchLoader Images(int count, long channels, int seed)
    {
        manual_seed(seed);
        var scales = linspace(0.2, 2.0, channels).reshape(1, channels, 1, 1);
        var inputs = (randn(count, channels, InputShape[2], InputShape[3]) * scales + 0.3).DetachFromDisposeScope();
        var targets = zeros(count, dtype: ScalarType.Int64).DetachFromDisposeScope();
        return new TensorBatchLoader(inputs, targets, batchSize: 16, shuffle: false, seed: seed, dropLast: false, subsetRatio: 1.0);
    }

    /// <summary>A model the same as <paramref name="source"/> (weights copied), as a second, independent instance.</summary>
    public static nn.Module<Tensor, Tensor> CopyOf(nn.Module<Tensor, Tensor> source, Func<nn.Module<Tensor, Tensor>> factory) =>
        ModelCopy.Create(factory, InputShape, [], source);

    /// <summary>Runs the compressor on <paramref name="model"/> with a fresh editor.</summary>
    public static CompressionResult Compress(nn.Module<Tensor, Tensor> model, double target,
        Dictionary<string, string>? settings = null, IBatchLoader? data = null, nn.Module<Tensor, Tensor>? reference = null)
    {
        var editor = new ModelEditor(model, InputShape, referenceModel: reference, trainingData: data);
        return new LowRankCompressor().Compress(new CompressionRequest
        {
            Model = model,
            ExampleInputShape = InputShape,
            TrainingData = data,
            TargetFlopsRatio = target,
            Settings = settings ?? new Dictionary<string, string>(),
            Editor = editor,
        });
    }

    /// <summary>The post-ReLU response of <paramref name="model"/>'s "conv" layer (factorized or not) to <paramref name="input"/>.</summary>
    public static Tensor ConvResponse(nn.Module<Tensor, Tensor> model, Tensor input) =>
        ((nn.Module<Tensor, Tensor>)model.named_children().Single(c => c.name == "conv").module).call(input).relu();

    /// <summary>Every parameter and buffer of <paramref name="model"/>, cloned, by name.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module<Tensor, Tensor> model) =>
        model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    /// <summary>True when <paramref name="model"/> has exactly the names, shapes and values of <paramref name="snapshot"/>.</summary>
    public static bool Unchanged(nn.Module<Tensor, Tensor> model, Dictionary<string, Tensor> snapshot)
    {
        var now = model.state_dict();
        return now.Count == snapshot.Count && now.All(kv =>
            snapshot.TryGetValue(kv.Key, out var before) && before.shape.SequenceEqual(kv.Value.shape)
            && before.equal(kv.Value).all().item<bool>());
    }
}
