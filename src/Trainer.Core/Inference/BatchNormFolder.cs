using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Inference;

/// <summary>
/// Folds each eval-mode BatchNorm2d into the Conv2d whose output it normalises (a producer, or a depthwise conv that
/// carries a producer's channels), and replaces the BatchNorm by Identity (<see cref="ModuleReplacer"/>). A pair is
/// folded only when the graph shows the BatchNorm as a follower of that producer with identity mapping and no other
/// producer reaching it, and a forward pass shows the conv's output tensor is exactly the BatchNorm's input.
/// </summary>
/// <remarks>
/// <para>The arithmetic runs in double precision: w' = w·γ/√(var+ε), b' = (b − mean)·γ/√(var+ε) + β.</para>
/// <para>When the parent holds the BatchNorm in a field typed BatchNorm2d (Identity cannot be assigned to it), the
/// BatchNorm stays but is made the identity function (γ=1, β=0, mean=0, var=1−ε); its time is then not saved.</para>
/// <para>Functional code that reads the conv's raw output besides the BatchNorm (e.g. <c>bn(y) + y</c>) cannot be
/// seen by hooks; <see cref="InferenceForm.Apply"/> compares outputs before and after and refuses such a fold.</para>
/// </remarks>
public static class BatchNormFolder
{
    /// <summary>Folds every foldable pair of <paramref name="model"/> in place.</summary>
    /// <param name="model">The model the graph was built from; it is changed in place.</param>
    /// <param name="graph">The model's dependency graph.</param>
    /// <param name="logger">Receives one line per folded pair at debug level.</param>
    /// <returns>The folded pairs, in execution order.</returns>
    public static IReadOnlyList<FoldedBatchNorm> Fold(nn.Module<Tensor, Tensor> model, ModelGraph graph, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        var modules = new Dictionary<string, nn.Module>();
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);

        var candidates = new List<(string Conv, string BatchNorm)>();
        foreach (var producer in graph.Producers)
        {
            // The producer itself and the depthwise convs that carry its channels can each be followed by a BatchNorm.
            var convs = graph.FollowersOf(producer).Where(f => graph.Layer(f).Kind == LayerKind.DepthwiseConv).Prepend(producer)
                .Where(c => modules.GetValueOrDefault(c) is Conv2d).ToList();
            foreach (var follower in graph.FollowersOf(producer))
            {
                if (modules.GetValueOrDefault(follower) is not BatchNorm2d bn || bn.running_mean is null || bn.running_var is null) continue;
                var incoming = graph.EdgesTo(follower);
                if (incoming.Count == 1 && incoming[0].Producer == producer)
                    candidates.AddRange(convs.Select(c => (c, follower)));
            }
        }
        var direct = DirectPairs(model, graph.InputShape.ToArray(), modules, candidates);
        var folded = new List<FoldedBatchNorm>();
        using (no_grad())
        {
            foreach (var (conv, bn) in direct)
            {
                var norm = (BatchNorm2d)modules[bn];
                FoldPair((Conv2d)modules[conv], norm);
                bool removed = TryRemove(model, bn, norm);
                folded.Add(new FoldedBatchNorm(conv, bn, removed));
                logger.LogDebug("Folded {BatchNorm} into {Conv} ({How})", bn, conv, removed ? "replaced by Identity" : "kept as identity");
            }
        }
        return folded;
    }

    /// <summary>Folds <paramref name="bn"/> (eval statistics) into <paramref name="conv"/>'s weight and bias.</summary>
    /// <param name="conv">The convolution whose output the BatchNorm normalises.</param>
    /// <param name="bn">The BatchNorm.</param>
    /// <param name="trainable">Keep the folded weight and bias trainable (quantization-aware training folds before it trains).</param>
    public static void FoldPair(Conv2d conv, BatchNorm2d bn, bool trainable = false)
    {
        using var scope = NewDisposeScope();
        var dtype = conv.weight.dtype;
        var w = conv.weight.detach().to_type(ScalarType.Float64);
        long outChannels = w.shape[0];
        var mean = bn.running_mean!.to_type(ScalarType.Float64);
        var var = bn.running_var!.to_type(ScalarType.Float64);
        var gamma = bn.weight is { } g ? g.detach().to_type(ScalarType.Float64) : ones(outChannels, ScalarType.Float64);
        var beta = bn.bias is { } b ? b.detach().to_type(ScalarType.Float64) : zeros(outChannels, ScalarType.Float64);
        var bias = conv.bias is { } cb ? cb.detach().to_type(ScalarType.Float64) : zeros(outChannels, ScalarType.Float64);
        var scale = gamma / (var + bn.eps).sqrt();
        var newWeight = (w * scale.view(-1, 1, 1, 1)).to_type(dtype).contiguous();
        var newBias = ((bias - mean) * scale + beta).to_type(dtype);
        conv.weight = new Parameter(newWeight.DetachFromDisposeScope(), requires_grad: trainable);
        conv.bias = new Parameter(newBias.DetachFromDisposeScope(), requires_grad: trainable);
    }

    /// <summary>
    /// Gives a freshly built model the structure of a fold (for <see cref="Compression.EditReplay"/>): the conv gets a
    /// bias, the BatchNorm becomes Identity (or an identity BatchNorm); the weights are loaded afterwards.
    /// </summary>
    /// <exception cref="ArgumentException">The conv or the BatchNorm is missing or of another type.</exception>
    internal static void Replay(nn.Module model, Compression.FoldBatchNormEdit fold)
    {
        var modules = new Dictionary<string, nn.Module>();
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);
        if (modules.GetValueOrDefault(fold.Conv) is not Conv2d conv)
            throw new ArgumentException($"'{fold.Conv}' is not a Conv2d of the model");
        if (modules.GetValueOrDefault(fold.BatchNorm) is not BatchNorm2d bn || bn.running_mean is null || bn.running_var is null)
            throw new ArgumentException($"'{fold.BatchNorm}' is not a BatchNorm2d with running statistics in the model");
        using (no_grad())
        {
            if (conv.bias is null) conv.bias = new Parameter(zeros(conv.weight.shape[0], conv.weight.dtype), requires_grad: false);
            if (!fold.Removed || !TryRemove(model, fold.BatchNorm, bn)) MakeIdentity(bn);
        }
    }

    /// <summary>Replaces the BatchNorm by Identity, or, when its parent's field cannot hold one, makes it the identity function.</summary>
    private static bool TryRemove(nn.Module model, string name, BatchNorm2d bn)
    {
        try
        {
            ModuleReplacer.Replace(model, name, nn.Identity());
            return true;
        }
        catch (ArgumentException)
        {
            MakeIdentity(bn);
            return false;
        }
    }

    /// <summary>(x - 0) / sqrt((1 - eps) + eps) * 1 + 0 = x, to float rounding.</summary>
    private static void MakeIdentity(BatchNorm2d bn)
    {
        bn.weight?.fill_(1);
        bn.bias?.fill_(0);
        bn.running_mean!.fill_(0);
        bn.running_var!.fill_(1 - bn.eps);
    }

    /// <summary>The candidate pairs whose conv output object is the BatchNorm's input object in one eval forward pass.</summary>
    private static List<(string Conv, string BatchNorm)> DirectPairs(nn.Module<Tensor, Tensor> model, long[] shape,
        Dictionary<string, nn.Module> modules, List<(string Conv, string BatchNorm)> candidates)
    {
        if (candidates.Count == 0) return [];
        var outputs = new Dictionary<string, Tensor>();
        var direct = new HashSet<(string, string)>();
        var removers = new List<Action>();
        try
        {
            foreach (var (conv, bn) in candidates)
            {
                var c = conv; var n = bn;
                removers.Add(((nn.Module<Tensor, Tensor>)modules[c]).register_forward_hook((_, _, output) => { outputs[c] = output; return null!; }).remove);
                removers.Add(((nn.Module<Tensor, Tensor>)modules[n]).register_forward_pre_hook((_, input) =>
                {
                    if (outputs.TryGetValue(c, out var o) && ReferenceEquals(o, input)) direct.Add((c, n));
                    return null!;
                }).remove);
            }
            using (new Models.EvalModeScope(model))
            using (no_grad())
            using (NewDisposeScope())
                model.call(zeros(shape));
        }
        finally
        {
            foreach (var remove in removers) remove();
            outputs.Clear();
        }
        return candidates.Where(direct.Contains).ToList();
    }
}

/// <summary>A BatchNorm folded into the conv before it.</summary>
/// <param name="Conv">The conv that now carries the normalisation.</param>
/// <param name="BatchNorm">The folded BatchNorm.</param>
/// <param name="Removed">True when the BatchNorm was replaced by Identity; false when it stays as an identity function
/// (its parent's field is typed BatchNorm2d).</param>
public sealed record FoldedBatchNorm(string Conv, string BatchNorm, bool Removed);
