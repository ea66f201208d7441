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
/// Folds a BatchNorm2d into the Conv2d right before it (Jacob et al. 2018, section 3.2, with frozen statistics):
/// w ← w·γ/σ per output channel, b ← β + (b − μ)·γ/σ with σ = sqrt(var + eps); the BatchNorm becomes an Identity, so the
/// quantized weight is the one inference uses.
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
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var sigma = (bn.running_var! + bn.eps).sqrt();
            var gamma = bn.weight is null ? ones_like(sigma) : bn.weight.detach();
            var beta = bn.bias is null ? zeros_like(sigma) : bn.bias.detach();
            var factor = gamma / sigma;
            var oldBias = conv.bias is null ? zeros_like(sigma) : conv.bias.detach();
            var newBias = beta + (oldBias - bn.running_mean!) * factor;
            conv.weight.mul_(factor.reshape(-1, 1, 1, 1));
            if (conv.bias is null) conv.bias = new Parameter(newBias.clone());
            else conv.bias.copy_(newBias);
        }
        ModuleReplacer.Replace(model, pair.BatchNorm, nn.Identity());
        bn.Dispose();
    }
}
