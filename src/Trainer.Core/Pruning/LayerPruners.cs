using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning;

/// <summary>
/// How one layer type loses channels, like Torch-Pruning's per-layer prune functions: its current input and output
/// widths, and the slicing of its tensors by a <see cref="LayerPlan"/> (kept outputs of a producer, kept input
/// positions of a consumer or follower). Every new tensor is sliced from the old one before it is assigned
/// (TorchSharp's setters dispose the old Parameter); each parameter keeps its <c>requires_grad</c>. Call under <c>no_grad</c>.
/// </summary>
internal abstract class LayerPruner
{
    /// <summary>The layer's input and output widths now (channels, features; both the feature count for norms).</summary>
    public abstract (long In, long Out) Widths(nn.Module module);

    /// <summary>Slices <paramref name="module"/> to <paramref name="plan"/> and fixes its size fields.</summary>
    public abstract void Apply(nn.Module module, LayerPlan plan);

    /// <summary>The pruner of <paramref name="module"/>'s type, or null with the reason in <paramref name="why"/>.</summary>
    public static LayerPruner? For(nn.Module module, out string why)
    {
        why = "";
        switch (module)
        {
            case ConvolutionTranspose t when t.groups == 1: return TransposedConvPruner.Instance;
            case ConvolutionTranspose t:
                why = $"a transposed convolution with {t.groups} groups (only groups = 1 is supported)";
                return null;
            case Convolution: return ConvPruner.Instance;
            case Linear: return LinearPruner.Instance;
            case NormBase: return BatchNormPruner.Instance;
            case GroupNorm: return GroupNormPruner.Instance;
            case LayerNorm: return LayerNormPruner.Instance;
            default:
                why = $"{module.GetType().Name} has no rule saying which of its tensors follow the channels (supported: " +
                      "Conv1d/2d/3d, ConvTranspose1d/2d/3d with groups 1, Linear, BatchNorm, InstanceNorm, GroupNorm, LayerNorm)";
                return null;
        }
    }

    /// <summary>A new Parameter holding <paramref name="data"/> (a fresh, contiguous copy), with the old one's requires_grad.</summary>
    protected static Parameter Parameter(Parameter old, Tensor data) =>
        new(ReferenceEquals(data, old) ? old.detach().clone() : data.contiguous(), old.requires_grad);

    /// <summary><paramref name="p"/> with only the entries <paramref name="keep"/> of dimension <paramref name="dim"/>.</summary>
    protected static Parameter Select(Parameter p, long dim, long[] keep) => Parameter(p, p.index_select(dim, Index(keep, p)));

    /// <summary>The kept positions as an index tensor on <paramref name="like"/>'s device.</summary>
    protected static Tensor Index(long[] keep, Tensor like) => tensor(keep, dtype: ScalarType.Int64, device: like.device);
}

/// <summary>
/// Conv1d/2d/3d (weight [out, in/groups, kernel...]). Plain: outputs are rows, inputs columns. Depthwise: a follower;
/// the kept inputs are the kept outputs and the group count shrinks with them. Grouped: output rows of group g read input
/// positions [g*w/groups, (g+1)*w/groups) through columns 0..w/groups-1, so each group's rows keep that group's kept
/// columns (ShrinkPlan has checked the counts are equal per group).
/// </summary>
internal sealed class ConvPruner : LayerPruner
{
    public static readonly ConvPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module)
    {
        var c = (Convolution)module;
        return (c.weight.shape[1] * c.groups, c.weight.shape[0]);
    }

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var conv = (Convolution)module;
        var weight = conv.weight;
        if (plan.Layer.Kind == LayerKind.DepthwiseConv)
        {
            var keep = plan.KeepIn!;
            conv.weight = Select(weight, 0, keep);
            if (conv.bias is { } b) conv.bias = Select(b, 0, keep);
            SizeFields.SetConv(conv, keep.Length, keep.Length, keep.Length);
            return;
        }
        long groups = conv.groups;
        Tensor sliced = weight;
        if (plan.KeepIn is { } keepIn)
            sliced = groups == 1 ? weight.index_select(1, Index(keepIn, weight)) : GroupedInputs(weight, keepIn, plan.InWidth, groups);
        if (plan.KeepOut is { } keepOut) sliced = sliced.index_select(0, Index(keepOut, weight));
        conv.weight = Parameter(weight, sliced);
        if (conv.bias is { } bias && plan.KeepOut is { } bo) conv.bias = Select(bias, 0, bo);
        SizeFields.SetConv(conv, conv.weight.shape[1] * groups, conv.weight.shape[0], groups);
    }

    private static Tensor GroupedInputs(Tensor weight, long[] keepIn, long width, long groups)
    {
        long inPerGroup = width / groups, outPerGroup = weight.shape[0] / groups;
        var parts = new List<Tensor>();
        for (long g = 0; g < groups; g++)
        {
            var local = keepIn.Where(i => i / inPerGroup == g).Select(i => i - g * inPerGroup).ToArray();
            parts.Add(weight.narrow(0, g * outPerGroup, outPerGroup).index_select(1, Index(local, weight)));
        }
        return cat(parts, 0);
    }
}

/// <summary>ConvTranspose1d/2d/3d with groups 1 (weight [in, out, kernel...]): inputs are dimension 0, outputs dimension 1.</summary>
internal sealed class TransposedConvPruner : LayerPruner
{
    public static readonly TransposedConvPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module)
    {
        var c = (ConvolutionTranspose)module;
        return (c.weight.shape[0], c.weight.shape[1]);
    }

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var conv = (ConvolutionTranspose)module;
        var weight = conv.weight;
        Tensor sliced = weight;
        if (plan.KeepIn is { } keepIn) sliced = sliced.index_select(0, Index(keepIn, weight));
        if (plan.KeepOut is { } keepOut) sliced = sliced.index_select(1, Index(keepOut, weight));
        conv.weight = Parameter(weight, sliced);
        if (conv.bias is { } bias && plan.KeepOut is { } bo) conv.bias = Select(bias, 0, bo);
        SizeFields.SetConv(conv, conv.weight.shape[0], conv.weight.shape[1], 1);
    }
}

/// <summary>Linear (weight [out, in]).</summary>
internal sealed class LinearPruner : LayerPruner
{
    public static readonly LinearPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module)
    {
        var l = (Linear)module;
        return (l.weight.shape[1], l.weight.shape[0]);
    }

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var linear = (Linear)module;
        var weight = linear.weight;
        Tensor sliced = weight;
        if (plan.KeepIn is { } keepIn) sliced = sliced.index_select(1, Index(keepIn, weight));
        if (plan.KeepOut is { } keepOut) sliced = sliced.index_select(0, Index(keepOut, weight));
        linear.weight = Parameter(weight, sliced);
        if (linear.bias is { } bias && plan.KeepOut is { } bo) linear.bias = Select(bias, 0, bo);
        SizeFields.SetLinear(linear, linear.weight.shape[1], linear.weight.shape[0]);
    }
}

/// <summary>BatchNorm1d/2d/3d and InstanceNorm: affine parameters and running statistics per channel.</summary>
internal sealed class BatchNormPruner : LayerPruner
{
    public static readonly BatchNormPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module) => (((NormBase)module).num_features, ((NormBase)module).num_features);

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var norm = (NormBase)module;
        var keep = plan.KeepIn!;
        if (norm.weight is { } w) norm.weight = Select(w, 0, keep);
        if (norm.bias is { } b) norm.bias = Select(b, 0, keep);
        if (norm.running_mean is { } mean) norm.running_mean = mean.index_select(0, Index(keep, mean));
        if (norm.running_var is { } variance) norm.running_var = variance.index_select(0, Index(keep, variance));
        SizeFields.SetNorm(norm, keep.Length);
    }
}

/// <summary>GroupNorm: affine parameters per channel; the group count stays (ShrinkPlan has checked divisibility).</summary>
internal sealed class GroupNormPruner : LayerPruner
{
    public static readonly GroupNormPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module)
    {
        long c = ((GroupNorm)module).weight?.shape[0] ?? -1;
        return (c, c);
    }

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var norm = (GroupNorm)module;
        if (norm.weight is { } w) norm.weight = Select(w, 0, plan.KeepIn!);
        if (norm.bias is { } b) norm.bias = Select(b, 0, plan.KeepIn!);
    }
}

/// <summary>LayerNorm whose first normalized dimension carries the channels: weight and bias sliced there, normalized_shape[0] set.</summary>
internal sealed class LayerNormPruner : LayerPruner
{
    public static readonly LayerNormPruner Instance = new();

    public override (long In, long Out) Widths(nn.Module module)
    {
        long c = ((LayerNorm)module).normalized_shape[0];
        return (c, c);
    }

    public override void Apply(nn.Module module, LayerPlan plan)
    {
        var norm = (LayerNorm)module;
        var keep = plan.KeepIn!;
        if (norm.weight is { } w) norm.weight = Select(w, 0, keep);
        if (norm.bias is { } b) norm.bias = Select(b, 0, keep);
        var shape = (long[])norm.normalized_shape.Clone();
        shape[0] = keep.Length;
        norm.normalized_shape = shape;
    }
}
