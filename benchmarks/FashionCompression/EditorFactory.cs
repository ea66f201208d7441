using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Benchmarks.FashionCompression;

/// <summary>The core's model editor over a Fashion CNN, with an untouched copy as the reference model for sampling.</summary>
internal static class EditorFactory
{
    public static readonly long[] InputShape = [1, 1, 28, 28];

    /// <summary>An editor of <paramref name="model"/> (not yet edited) that samples <paramref name="data"/>.</summary>
    public static ModelEditor Create(nn.Module<Tensor, Tensor> model, IBatchLoader? data, ILogger logger)
    {
        var reference = ModelCopy.Create(() => new FashionCnn(), InputShape, [], model);
        // RoundTo 1: kept counts exactly as planned, so the FLOPs target is met (MacsIfKept does not see the editor's rounding).
        return new ModelEditor(model, InputShape, new ShrinkOptions { RoundTo = 1 }, reference, data, logger);
    }

    /// <summary>MACs and parameters of <paramref name="model"/> for one image.</summary>
    public static Trainer.Abstractions.Compression.ModelCost Cost(nn.Module<Tensor, Tensor> model) => new ModelEditor(model, InputShape).Cost;
}
