using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning;

/// <summary>Builds twin models, random group masks, and the masked (zeroed) reference of a shrink.</summary>
internal static class PruningFixtures
{
    /// <summary>Two identical models: same seed, BatchNorm statistics and norms' affine parameters randomised alike.</summary>
    public static (T A, T B) Twins<T>(Func<T> create) where T : nn.Module<Tensor, Tensor> => (Seeded(create), Seeded(create));

    private static T Seeded<T>(Func<T> create) where T : nn.Module<Tensor, Tensor>
    {
        torch.manual_seed(1234);
        var model = create();
        using var noGrad = torch.no_grad();
        foreach (var (_, m) in model.named_modules())
            if (m is NormBase norm)
            {
                norm.weight?.copy_(torch.rand(norm.num_features) + 0.5);
                norm.bias?.copy_(torch.randn(norm.num_features) * 0.1);
                norm.running_mean?.copy_(torch.randn(norm.num_features) * 0.1);
                norm.running_var?.copy_(torch.rand(norm.num_features) + 0.5);
            }
            else if (m is GroupNorm or LayerNorm)
            {
                foreach (var (name, p) in m.named_parameters(recurse: false))
                    p.copy_(name == "weight" ? torch.rand(p.shape) + 0.5 : torch.randn(p.shape) * 0.1);
            }
        return model;
    }

    /// <summary>
    /// One mask per prunable group that does not produce the model's output: about half the channels (a multiple of the
    /// group's divisor), chosen with a fixed seed, over the group's channel axis; each producer gets its slice.
    /// </summary>
    public static Dictionary<string, bool[]> HalfMasks(ModelGraph graph, int seed = 7)
    {
        var masks = new Dictionary<string, bool[]>();
        foreach (var group in graph.Groups)
        {
            if (!group.IsPrunable || group.Producers.Any(p => graph.EdgesFrom(p).Count == 0)) continue;
            int channels = (int)group.Channels;
            long divisor = group.Producers.Concat(group.Followers).Select(graph.GroupDependency.DivisorOf).Max();
            var mask = divisor > 1 ? BalancedHalf(channels, (int)divisor, seed + group.Id)
                : group.IsSliced ? HalfPerSegment(group, seed + group.Id) : RandomHalf(channels, seed + group.Id);
            foreach (var (p, slice) in group.ProducerMasks(mask)) masks[p] = slice;
        }
        return masks;
    }

    /// <summary>Half of every segment between slice boundaries of a sliced group, so every producer keeps half of its channels.</summary>
    public static bool[] HalfPerSegment(DependencyGroup group, int seed)
    {
        var cuts = group.Producers.Select(group.SliceOf).SelectMany(s => new[] { s.Offset, s.Offset + s.Count }).Distinct().Order().ToList();
        var mask = new bool[group.Channels];
        for (int i = 0; i + 1 < cuts.Count; i++)
        {
            var part = RandomHalf((int)(cuts[i + 1] - cuts[i]), seed + i);
            part.CopyTo(mask, (int)cuts[i]);
        }
        return mask;
    }

    /// <summary>Keeps channels/2 (at least 1) channels at random.</summary>
    public static bool[] RandomHalf(int channels, int seed)
    {
        var random = new Random(seed);
        var mask = new bool[channels];
        foreach (var c in Enumerable.Range(0, channels).OrderBy(_ => random.Next()).Take(Math.Max(1, channels / 2))) mask[c] = true;
        return mask;
    }

    /// <summary>Keeps half of every one of <paramref name="groups"/> equal slices.</summary>
    public static bool[] BalancedHalf(int channels, int groups, int seed)
    {
        int size = channels / groups;
        var mask = new bool[channels];
        for (int g = 0; g < groups; g++)
        {
            var part = RandomHalf(size, seed + g);
            for (int i = 0; i < size; i++) mask[g * size + i] = part[i];
        }
        return mask;
    }

    /// <summary>
    /// Makes the pruned channels of <paramref name="model"/> output exactly 0 without changing shapes: each masked producer's
    /// weight rows (columns of a transposed conv) and bias are zeroed, and so are the per-channel weight and bias of every follower (BatchNorm, depthwise conv)
    /// at the positions the channels reach, so in eval mode (x - mean) / std * 0 + 0 = 0 and every consumer reads zeros there,
    /// which is what reading fewer inputs computes.
    /// </summary>
    public static void ZeroPruned(nn.Module model, ModelGraph graph, IReadOnlyDictionary<string, bool[]> masks)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        using var noGrad = torch.no_grad();
        foreach (var (producer, mask) in masks)
        {
            var pruned = Enumerable.Range(0, mask.Length).Where(c => !mask[c]).Select(c => (long)c).ToArray();
            if (pruned.Length == 0) continue;
            ZeroRows(modules[producer], pruned);
            foreach (var edge in graph.EdgesFrom(producer).Where(e => e.Role == EdgeRole.Follower))
            {
                var positions = pruned.SelectMany(c => Enumerable.Range(0, (int)edge.Mapping.BlockSize)
                    .Select(i => edge.Mapping.Start(c) + i)).ToArray();
                ZeroRows(modules[edge.Target], positions);
            }
        }
    }

    private static void ZeroRows(nn.Module module, long[] rows)
    {
        var index = torch.tensor(rows);
        foreach (var (name, p) in module.named_parameters(recurse: false))
            // A transposed conv's weight is [in, out, kernel...]: its output channels are dimension 1.
            p.index_fill_(module is ConvolutionTranspose && name == "weight" ? 1 : 0, index, 0);
    }

    /// <summary>Output of a model in eval mode on <paramref name="input"/>.</summary>
    public static Tensor Eval(nn.Module<Tensor, Tensor> model, Tensor input)
    {
        model.eval();
        using var noGrad = torch.no_grad();
        return model.call(input.clone());
    }

    /// <summary>Module path → module.</summary>
    public static Dictionary<string, nn.Module> Modules(nn.Module model) =>
        model.named_modules().ToDictionary(m => m.name, m => m.module);

    /// <summary>One SGD step in train mode with a fresh optimizer; returns the loss.</summary>
    public static double TrainStep(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        model.train();
        using var scope = torch.NewDisposeScope();
        var optimizer = torch.optim.SGD(model.parameters(), 0.01);
        var output = model.call(torch.randn(inputShape));
        var loss = output.square().mean();
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        return loss.item<float>();
    }
}
