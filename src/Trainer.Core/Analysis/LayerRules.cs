using TorchSharp.Modules;
using static TorchSharp.torch;
using TorchModule = TorchSharp.torch.nn.Module;

namespace Trainer.Core.Analysis;

/// <summary>What a layer is, for counting (NNI's table of counted types) and for channel propagation.</summary>
internal enum LayerKind
{
    /// <summary>Not counted by NNI in either mode (ReLU, MaxPool, Flatten, containers, ...).</summary>
    Other, Conv, Linear, BatchNorm, LeakyReLU, AvgPool, AdaptiveAvgPool, Upsample,
}

/// <summary>A tensor of which only <see cref="Kept"/> of <see cref="Total"/> entries along dimension <see cref="Axis"/> survive pruning.</summary>
internal sealed record ChannelState(long Kept, long Total, int Axis);

/// <summary>What is read from a module before the forward pass, so hooks need not touch parameters.</summary>
internal sealed class LayerSpec
{
    public required string Name { get; init; }
    public required TorchModule Module { get; init; }
    public string Type => Module.GetType().Name;
    public required LayerKind Kind { get; init; }
    /// <summary>All parameters of the module (NNI's <c>sum(p.numel() for p in m.parameters())</c>).</summary>
    public required long Params { get; init; }
    public long[] WeightShape { get; init; } = [];
    public bool HasBias { get; init; }
    public long Groups { get; init; } = 1;
    public bool Transposed { get; init; }
    /// <summary>Kept output channels from the caller's mask; null when the layer is not masked.</summary>
    public long? KeptOutputs { get; set; }
    public bool HasChildren { get; init; }

    /// <summary>Input channels of a convolution, or input features of a Linear, read from the weight's shape.</summary>
    public long InputChannels => Kind == LayerKind.Linear ? WeightShape[1] : Transposed ? WeightShape[0] : WeightShape[1] * Groups;

    /// <summary>Output channels of a convolution, or output features of a Linear, read from the weight's shape.</summary>
    public long OutputChannels => Kind == LayerKind.Linear ? WeightShape[0] : Transposed ? WeightShape[1] * Groups : WeightShape[0];
}

/// <summary>
/// NNI v2.10 <c>ModelProfiler</c> counting rules (nni/compression/pytorch/utils/counter.py), per sample:
/// <list type="bullet">
/// <item>Conv*: <c>cout * prod(out.shape[2:]) * prod(kernel) * cin / groups</c> (integer division of the whole product),
/// cout from the output's dim 1; Full adds <c>cout * prod(out.shape[2:])</c> when the conv has a bias.</item>
/// <item>Linear: <c>out_features * in_features</c> whatever the input's rank (leading dimensions are ignored);
/// Full adds <c>out_features</c> when it has a bias.</item>
/// <item>BatchNorm: <c>2 * numel(sample)</c>; LeakyReLU: <c>numel(sample)</c>; AvgPool: <c>numel(output sample)</c>;
/// AdaptiveAvgPool: <c>(prod(in.shape[2:] / output_size) + 1) * numel(output sample)</c>;
/// Upsample: <c>numel(output sample)</c> times 0 (nearest), 5 (linear), 11 (bilinear), 259 (bicubic), 31 (trilinear).</item>
/// </list>
/// </summary>
internal static class LayerRules
{
    private static readonly Dictionary<Type, LayerKind> Kinds = new()
    {
        [typeof(Conv1d)] = LayerKind.Conv, [typeof(Conv2d)] = LayerKind.Conv, [typeof(Conv3d)] = LayerKind.Conv,
        [typeof(ConvTranspose1d)] = LayerKind.Conv, [typeof(ConvTranspose2d)] = LayerKind.Conv, [typeof(ConvTranspose3d)] = LayerKind.Conv,
        [typeof(Linear)] = LayerKind.Linear,
        [typeof(BatchNorm1d)] = LayerKind.BatchNorm, [typeof(BatchNorm2d)] = LayerKind.BatchNorm, [typeof(BatchNorm3d)] = LayerKind.BatchNorm,
        [typeof(LeakyReLU)] = LayerKind.LeakyReLU,
        [typeof(AvgPool1d)] = LayerKind.AvgPool, [typeof(AvgPool2d)] = LayerKind.AvgPool, [typeof(AvgPool3d)] = LayerKind.AvgPool,
        [typeof(AdaptiveAvgPool1d)] = LayerKind.AdaptiveAvgPool, [typeof(AdaptiveAvgPool2d)] = LayerKind.AdaptiveAvgPool,
        [typeof(AdaptiveAvgPool3d)] = LayerKind.AdaptiveAvgPool,
        [typeof(Upsample)] = LayerKind.Upsample,
    };

    /// <summary>Reads a module once, before the forward pass. Types match exactly, as NNI's <c>type(m) in ops</c>.</summary>
    public static LayerSpec Describe(string name, TorchModule module)
    {
        var kind = Kinds.GetValueOrDefault(module.GetType(), LayerKind.Other);
        long parameters = module.parameters().Sum(p => p.numel());
        bool hasChildren = module.named_children().Any();
        return module switch
        {
            Convolution c => new LayerSpec
            {
                Name = name, Module = module, Kind = kind, Params = parameters, HasChildren = hasChildren,
                WeightShape = c.weight.shape, HasBias = c.bias is not null, Groups = c.groups, Transposed = c is ConvolutionTranspose,
            },
            Linear l => new LayerSpec
            {
                Name = name, Module = module, Kind = kind, Params = parameters, HasChildren = hasChildren,
                WeightShape = l.weight.shape, HasBias = l.bias is not null,
            },
            _ => new LayerSpec { Name = name, Module = module, Kind = kind, Params = parameters, HasChildren = hasChildren },
        };
    }

    /// <summary>Whether NNI counts this kind in this mode.</summary>
    public static bool IsCounted(LayerKind kind, CountMode mode) =>
        kind is LayerKind.Conv or LayerKind.Linear || (mode == CountMode.Full && kind != LayerKind.Other);

    /// <summary>
    /// FLOPs and parameters of one call. <paramref name="inState"/> is the live-channel state of the layer's input (null when
    /// all are live; see <see cref="MaskedCounts"/>); it reduces a consumer's input channels (a grouped conv's too: the
    /// shrinker removes equal numbers per group) and, in Full mode, a channel-wise layer's whole count.
    /// </summary>
    public static (long Flops, long Params) Count(LayerSpec s, CountMode mode, long[] inShape, long[] outShape, ChannelState? inState)
    {
        bool full = mode == CountMode.Full;
        switch (s.Kind)
        {
            case LayerKind.Conv:
            {
                long? keptIn = inState is { Axis: 1 } && inState.Total == s.InputChannels ? inState.Kept : null;
                long kernel = Product(s.WeightShape, 2);
                long spatial = Product(outShape, 2);
                if (s.Groups > 1 && s.Groups == s.InputChannels && s.Groups == s.OutputChannels && !s.Transposed && (keptIn ?? s.KeptOutputs) is not null)
                {
                    // A depthwise conv carries its input's channels: a channel survives when its input does and its own mask keeps it.
                    long kept = Math.Min(keptIn ?? s.OutputChannels, s.KeptOutputs ?? s.OutputChannels);
                    long dwFlops = kept * spatial * kernel + (full && s.HasBias ? kept * spatial : 0);
                    return (dwFlops, kept * kernel + (s.HasBias ? kept : 0));
                }
                long cin = keptIn ?? s.InputChannels;
                long cout = s.KeptOutputs ?? outShape[1];
                long flops = cout * spatial * kernel * cin / s.Groups;
                if (full && s.HasBias) flops += cout * spatial;
                if (keptIn is null && s.KeptOutputs is null) return (flops, s.Params);
                long outs = s.KeptOutputs ?? s.OutputChannels;
                long weight = s.Transposed ? cin * (outs / s.Groups) * kernel : outs * (cin / s.Groups) * kernel;
                return (flops, weight + (s.HasBias ? outs : 0));
            }
            case LayerKind.Linear:
            {
                long? keptIn = inState is not null && inState.Axis == inShape.Length - 1 && inState.Total == s.InputChannels ? inState.Kept : null;
                long inFeatures = keptIn ?? s.InputChannels;
                long outFeatures = s.KeptOutputs ?? s.OutputChannels;
                long flops = outFeatures * inFeatures + (full && s.HasBias ? outFeatures : 0);
                if (keptIn is null && s.KeptOutputs is null) return (flops, s.Params);
                return (flops, outFeatures * inFeatures + (s.HasBias ? outFeatures : 0));
            }
        }
        long ops = s.Kind switch
        {
            LayerKind.BatchNorm => 2 * Product(inShape, 1),
            LayerKind.LeakyReLU => Product(inShape, 1),
            LayerKind.AvgPool => Product(outShape, 1),
            LayerKind.AdaptiveAvgPool => (AdaptiveKernel(s.Module, inShape) + 1) * Product(outShape, 1),
            LayerKind.Upsample => Product(outShape, 1) * UpsampleOps(((Upsample)s.Module).mode),
            _ => 0,
        };
        // A channel-wise layer on a tensor whose kept channels are known counts the kept channels only.
        bool reduce = inState is not null && inState.Axis >= 1 && inState.Axis < inShape.Length && inShape[inState.Axis] == inState.Total
            && (s.Kind == LayerKind.LeakyReLU || inState.Axis == 1);
        return reduce ? (ops * inState!.Kept / inState.Total, s.Params * inState.Kept / inState.Total) : (ops, s.Params);
    }

    /// <summary>NNI: <c>prod(floor(in.shape[2:] / output_size))</c>, a single output size applying to every dimension.</summary>
    private static long AdaptiveKernel(TorchModule m, long[] inShape)
    {
        long[] size = m switch
        {
            AdaptiveAvgPool1d p => [p.output_size],
            AdaptiveAvgPool2d p => p.output_size,
            AdaptiveAvgPool3d p => p.output_size,
            _ => [1],
        };
        long kernel = 1;
        for (int d = 2; d < inShape.Length; d++)
        {
            long o = size.Length == 1 ? size[0] : size[d - 2];
            kernel *= o > 0 ? inShape[d] / o : 1;
        }
        return kernel;
    }

    private static long UpsampleOps(UpsampleMode mode) => mode switch
    {
        UpsampleMode.Linear => 5,
        UpsampleMode.Bilinear => 11,
        UpsampleMode.Bicubic => 224 + 35,
        UpsampleMode.Trilinear => 13 * 2 + 5,
        _ => 0,
    };

    /// <summary>Product of <paramref name="shape"/> from dimension <paramref name="from"/> on (1 when empty).</summary>
    public static long Product(long[] shape, int from)
    {
        long p = 1;
        for (int i = from; i < shape.Length; i++) p *= shape[i];
        return p;
    }
}
