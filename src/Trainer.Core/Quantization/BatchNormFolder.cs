using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>A BatchNorm folded into the Conv2d it directly follows.</summary>
/// <param name="Conv">The convolution's path.</param>
/// <param name="BatchNorm">The BatchNorm's path (now an Identity).</param>
public sealed record FoldedBatchNorm(string Conv, string BatchNorm);

/// <summary>
/// Folds a BatchNorm2d into the Conv2d right before it for quantization-aware training (Jacob et al. 2018, section 3.2,
/// with frozen statistics), with the inference form's arithmetic (<see cref="Inference.BatchNormFolder.FoldPair"/>); the
/// BatchNorm becomes an Identity, so the quantized weight is the one inference uses.
/// </summary>
public static class BatchNormFolder
{
    /// <summary>Pairs (conv, BatchNorm2d) where the BatchNorm is the next layer executed after the conv and reads only it.</summary>
    public static IReadOnlyList<FoldedBatchNorm> FindPairs(nn.Module<Tensor, Tensor> model, IReadOnlyList<long> exampleInputShape,
        IEnumerable<string> convs, ILogger logger)
    {
        var graph = ModelGraph.Build(model, [.. exampleInputShape], logger);
        var pairs = new List<FoldedBatchNorm>();
        foreach (var conv in convs)
        {
            if (graph.FindLayer(conv) is not { Type: "Conv2d" } c) continue;
            var next = graph.Layers.FirstOrDefault(l => l.Index == c.Index + 1);
            if (next is { Type: "BatchNorm2d" } && graph.FollowersOf(conv).Contains(next.Name)
                && graph.EdgesTo(next.Name).All(e => e.Producer == conv))
                pairs.Add(new FoldedBatchNorm(conv, next.Name));
        }
        return pairs;
    }

    /// <summary>Folds <paramref name="pair"/> in <paramref name="model"/> (replacing the BatchNorm by an Identity).</summary>
    /// <exception cref="ArgumentException">The paths do not name a Conv2d and a BatchNorm2d of matching channels.</exception>
    public static void Fold(nn.Module<Tensor, Tensor> model, FoldedBatchNorm pair)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        if (!modules.TryGetValue(pair.Conv, out var c) || c is not Conv2d conv)
            throw new ArgumentException($"cannot fold BatchNorm into '{pair.Conv}': it is not a Conv2d of the model", nameof(pair));
        if (!modules.TryGetValue(pair.BatchNorm, out var b) || b is not BatchNorm2d bn || bn.num_features != conv.out_channels)
            throw new ArgumentException($"cannot fold '{pair.BatchNorm}' into '{pair.Conv}': it is not a BatchNorm2d with {conv.out_channels} channels", nameof(pair));
        using (no_grad()) Inference.BatchNormFolder.FoldPair(conv, bn, trainable: true);
        ModuleReplacer.Replace(model, pair.BatchNorm, nn.Identity());
        bn.Dispose();
    }
}
