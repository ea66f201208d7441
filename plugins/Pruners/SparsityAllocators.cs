using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>How a pruner turns metrics into masks, NNI v2.10's sparsity allocators.</summary>
public enum PruningMode
{
    /// <summary>NormalSparsityAllocator: each layer keeps its n − int(n·s) highest-metric entries.</summary>
    Normal,

    /// <summary>DependencyAwareAllocator: layers whose output channels are coupled (a residual add) get one mask from their
    /// summed metrics at the group's smallest sparsity, kept per block of a grouped conv's groups.</summary>
    DependencyAware,

    /// <summary>GlobalSparsityAllocator: one threshold over every layer's metric (each metric counted once per weight it
    /// stands for), no layer losing more than max_sparsity_per_layer.</summary>
    Global,
}

/// <summary>
/// NNI v2.10's sparsity allocators (pruning/tools/sparsity_allocator.py) over metrics from <see cref="WeightImportance"/>. Masks
/// have the metric's shape (1 keeps, 0 prunes); counts are rounded as NNI rounds them, a layer's pruned count down
/// (int(n·s)), and the kept entries are torch.topk's, so ties fall as in NNI. The caller owns the returned tensors.
/// </summary>
public static class SparsityAllocators
{
    /// <summary>NormalSparsityAllocator: per layer, keep the n − int(n·s) largest metrics.</summary>
    public static Dictionary<string, Tensor> Normal(IReadOnlyDictionary<string, Tensor> metrics, IReadOnlyDictionary<string, double> sparsity) =>
        metrics.ToDictionary(m => m.Key, m => TopMask(m.Value, KeptCount(m.Value.numel(), sparsity[m.Key])));

    /// <summary>
    /// DependencyAwareAllocator (NNI's "plan B"): for each set of coupled layers, sum their metrics, take the smallest
    /// sparsity among them, and keep the same channels in each: per block of fused.shape[0] / lcm(group counts) channels,
    /// numel_per_block − int(numel_per_block · s) of them. Layers in no set (or alone in theirs) are allocated as
    /// <see cref="Normal"/>, except that a layer pruning nothing keeps a mask of ones.
    /// </summary>
    /// <param name="metrics">Per-channel metric by layer.</param>
    /// <param name="sparsity">Sparsity by layer.</param>
    /// <param name="channelDependency">Sets of layers whose output channels are coupled (NNI's ChannelDependency).</param>
    /// <param name="groupDependency">Layer → the number its channel count must stay divisible by (NNI's GroupDependency).</param>
    public static Dictionary<string, Tensor> DependencyAware(IReadOnlyDictionary<string, Tensor> metrics,
        IReadOnlyDictionary<string, double> sparsity, IEnumerable<IReadOnlyList<string>> channelDependency,
        IReadOnlyDictionary<string, int> groupDependency)
    {
        var masks = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var set in channelDependency)
        {
            var members = set.Where(metrics.ContainsKey).ToList();
            if (members.Count == 0) continue;
            using var scope = NewDisposeScope();
            var fused = metrics[members[0]].clone();
            foreach (var member in members.Skip(1)) fused.add_(metrics[member]);
            var minSparsity = members.Min(m => sparsity[m]);
            var blocks = members.Select(m => (long)groupDependency.GetValueOrDefault(m, 1)).Aggregate(1L, Lcm);
            var numelPerBlock = fused.numel() / blocks;
            var keptPerBlock = numelPerBlock - (long)(numelPerBlock * minSparsity);
            var step = fused.shape[0] / blocks;
            var mask = ones_like(fused);
            for (long b = 0; b < blocks; b++)
            {
                var part = fused[TensorIndex.Slice(b * step, (b + 1) * step)].reshape(-1);
                mask[TensorIndex.Slice(b * step, (b + 1) * step)] = keptPerBlock > 0
                    ? TopMask(part, keptPerBlock).reshape(mask[TensorIndex.Slice(b * step, (b + 1) * step)].shape)
                    : zeros_like(part);
            }
            foreach (var member in members) masks[member] = mask.clone().MoveToOuterDisposeScope();
        }
        foreach (var (layer, metric) in metrics)
        {
            if (masks.ContainsKey(layer)) continue;
            var pruned = (long)(sparsity[layer] * metric.numel());
            masks[layer] = pruned != 0 ? TopMask(metric, metric.numel() - pruned) : ones_like(metric);
        }
        return masks;
    }

    /// <summary>
    /// GlobalSparsityAllocator: each layer's top n − int(max·n) metrics are protected (raised to the largest metric of all
    /// layers); every metric is repeated once per weight it stands for; int(s·N) entries are pruned (fewer if fewer are
    /// unprotected) by one threshold, the largest of the int(s·N) smallest values; a layer keeps its entries above it.
    /// </summary>
    /// <param name="metrics">Metric by layer.</param>
    /// <param name="weightNumel">Each layer's weight count (a channel metric stands for numel / channels weights).</param>
    /// <param name="totalSparsity">The one total sparsity.</param>
    /// <param name="maxSparsity">Each layer's max_sparsity_per_layer.</param>
    public static Dictionary<string, Tensor> Global(IReadOnlyDictionary<string, Tensor> metrics, IReadOnlyDictionary<string, long> weightNumel,
        double totalSparsity, IReadOnlyDictionary<string, double> maxSparsity)
    {
        using var scope = NewDisposeScope();
        var maxValue = metrics.Values.Select(m => m.max().item<float>()).Max();
        var guarded = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (layer, metric) in metrics)
        {
            var flat = metric.reshape(-1);
            var protectedCount = metric.numel() - (long)(maxSparsity[layer] * metric.numel());
            var top = topk(flat, (int)protectedCount).indices;
            guarded[layer] = flat.scatter(0, top, full_like(top, maxValue, dtype: flat.dtype)).reshape(metric.shape);
        }
        var global = cat(guarded.Select(g => g.Value.reshape(-1).repeat_interleave(weightNumel[g.Key] / g.Value.numel())).ToList(), 0);
        var maxPruning = (long)(global != maxValue).sum().item<long>();
        var pruning = Math.Min((long)(totalSparsity * global.numel()), maxPruning);
        var threshold = topk(global, (int)pruning, largest: false).values.max();
        return guarded.ToDictionary(g => g.Key, g => g.Value.gt(threshold).to(g.Value.dtype).MoveToOuterDisposeScope());
    }

    /// <summary>NNI's kept count of n entries at sparsity s: n − int(s·n).</summary>
    public static long KeptCount(long numel, double sparsity) => numel - (long)(sparsity * numel);

    // zeros.scatter(0, topk(metric, kept).indices, 1): the kept positions are torch.topk's.
    private static Tensor TopMask(Tensor metric, long kept)
    {
        using var scope = NewDisposeScope();
        var flat = metric.reshape(-1);
        var indices = topk(flat, (int)kept).indices;
        return zeros_like(flat).scatter(0, indices, ones_like(indices, dtype: flat.dtype)).reshape(metric.shape).MoveToOuterDisposeScope();
    }

    private static long Lcm(long a, long b)
    {
        static long Gcd(long x, long y) => y == 0 ? x : Gcd(y, x % y);
        return a / Gcd(a, b) * b;
    }
}
