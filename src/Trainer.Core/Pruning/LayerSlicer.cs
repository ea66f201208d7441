using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning;

/// <summary>
/// Slices one layer's tensors in place according to its <see cref="LayerPlan"/> and fixes its size fields.
/// Every new tensor is sliced from the old one before it is assigned (TorchSharp's setters dispose the old
/// Parameter); each parameter keeps its <c>requires_grad</c>. Call under <c>no_grad</c>.
/// </summary>
internal static class LayerSlicer
{
    /// <summary>Checks that <paramref name="module"/> still has the sizes the graph saw.</summary>
    /// <exception cref="ArgumentException">The module is of another type or was resized since the graph was built.</exception>
    public static void CheckCurrent(nn.Module module, LayerPlan plan)
    {
        var layer = plan.Layer;
        (long In, long Out)? now = module switch
        {
            Conv2d c => (c.weight.shape[1] * c.groups, c.weight.shape[0]),
            Linear l => (l.weight.shape[1], l.weight.shape[0]),
            NormBase n => (n.num_features, n.num_features),
            GroupNorm g => (g.weight?.shape[0] ?? layer.NumFeatures ?? 0, g.weight?.shape[0] ?? layer.NumFeatures ?? 0),
            _ => null,
        };
        if (now is null)
            throw new ArgumentException($"cannot shrink '{layer.Name}': {module.GetType().Name} layers are not supported", "model");
        long expectedOut = layer.Channels ?? now.Value.Out;
        bool inMatches = plan.KeepIn is null || now.Value.In == plan.InWidth;
        if (now.Value.Out != expectedOut || !inMatches)
            throw new ArgumentException(
                $"the graph is stale: '{layer.Name}' now has {now.Value.In} inputs and {now.Value.Out} outputs, the graph saw " +
                $"{(plan.KeepIn is null ? "?" : plan.InWidth)} and {expectedOut}; rebuild the graph after shrinking", "graph");
    }

    /// <summary>Slices <paramref name="module"/>.</summary>
    public static void Apply(nn.Module module, LayerPlan plan)
    {
        switch (module)
        {
            case Conv2d conv when plan.Layer.Kind == LayerKind.DepthwiseConv:
                SliceDepthwise(conv, plan.KeepIn!);
                break;
            case Conv2d conv:
                SliceConv(conv, plan);
                break;
            case Linear linear:
                linear.weight = Sliced(linear.weight, plan.KeepIn, plan.KeepOut);
                if (linear.bias is { } lb && plan.KeepOut is { } lo) linear.bias = Parameter(lb, lb.index_select(0, Index(lo, lb)));
                SizeFields.SetLinear(linear, linear.weight.shape[1], linear.weight.shape[0]);
                break;
            case NormBase norm:
                var keep = plan.KeepIn!;
                if (norm.weight is { } nw) norm.weight = Parameter(nw, nw.index_select(0, Index(keep, nw)));
                if (norm.bias is { } nb) norm.bias = Parameter(nb, nb.index_select(0, Index(keep, nb)));
                if (norm.running_mean is { } mean) norm.running_mean = mean.index_select(0, Index(keep, mean));
                if (norm.running_var is { } variance) norm.running_var = variance.index_select(0, Index(keep, variance));
                SizeFields.SetNorm(norm, keep.Length);
                break;
            case GroupNorm group:
                if (group.weight is { } gw) group.weight = Parameter(gw, gw.index_select(0, Index(plan.KeepIn!, gw)));
                if (group.bias is { } gb) group.bias = Parameter(gb, gb.index_select(0, Index(plan.KeepIn!, gb)));
                break;
        }
    }

    private static void SliceConv(Conv2d conv, LayerPlan plan)
    {
        var weight = conv.weight;
        long groups = conv.groups;
        Tensor sliced = weight;
        if (plan.KeepIn is { } keepIn)
            sliced = groups == 1 ? weight.index_select(1, Index(keepIn, weight)) : GroupedInputs(weight, keepIn, plan.InWidth, groups);
        if (plan.KeepOut is { } keepOut)
            sliced = sliced.index_select(0, Index(keepOut, weight));
        conv.weight = Parameter(weight, sliced);
        if (conv.bias is { } bias && plan.KeepOut is { } bo) conv.bias = Parameter(bias, bias.index_select(0, Index(bo, bias)));
        SizeFields.SetConv(conv, conv.weight.shape[1] * groups, conv.weight.shape[0], groups);
    }

    /// <summary>
    /// Input slicing of a grouped conv: output rows of group g read input positions [g*w/groups, (g+1)*w/groups) through
    /// weight columns 0..w/groups-1, so each group's rows keep the columns of that group's kept positions (equal counts, checked).
    /// </summary>
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

    private static void SliceDepthwise(Conv2d conv, long[] keep)
    {
        var weight = conv.weight;
        conv.weight = Parameter(weight, weight.index_select(0, Index(keep, weight)));
        if (conv.bias is { } bias) conv.bias = Parameter(bias, bias.index_select(0, Index(keep, bias)));
        SizeFields.SetConv(conv, keep.Length, keep.Length, keep.Length);
    }

    private static Parameter Sliced(Parameter weight, long[]? keepIn, long[]? keepOut)
    {
        Tensor sliced = weight;
        if (keepIn is not null) sliced = sliced.index_select(1, Index(keepIn, weight));
        if (keepOut is not null) sliced = sliced.index_select(0, Index(keepOut, weight));
        return Parameter(weight, sliced);
    }

    /// <summary>A new Parameter holding <paramref name="data"/> (a fresh, contiguous copy), with the old one's requires_grad.</summary>
    private static Parameter Parameter(Parameter old, Tensor data) =>
        new(ReferenceEquals(data, old) ? old.detach().clone() : data.contiguous(), old.requires_grad);

    private static Tensor Index(long[] keep, Tensor like) => tensor(keep, dtype: ScalarType.Int64, device: like.device);
}
