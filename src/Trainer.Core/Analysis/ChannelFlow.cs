using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis;

/// <summary>A tensor of which only <see cref="Kept"/> of <see cref="Total"/> entries along dimension <see cref="Axis"/> survive pruning.</summary>
internal sealed record ChannelState(long Kept, long Total, int Axis);

/// <summary>
/// Follows kept-channel counts from masked producers to their consumers, in execution order, by tensor identity.
/// <para>
/// A masked Conv/Linear marks its output tensor (axis 1 for a convolution, the last axis for a Linear). The mark moves
/// to the output of the next leaf layer that receives that very tensor object when the layer is one of:
/// <list type="bullet">
/// <item>shape-preserving element-wise layers (any axis): ReLU, ReLU6, LeakyReLU, PReLU, ELU, CELU, SELU, GELU, SiLU,
/// Mish, Sigmoid, Tanh, Hardswish, Hardsigmoid, Hardtanh, Softplus, Dropout/1d/2d/3d, AlphaDropout, FeatureAlphaDropout, Identity;</item>
/// <item>per-channel layers (axis 1 only, channel count unchanged): BatchNorm1d/2d/3d, MaxPool1d/2d/3d, AvgPool1d/2d/3d,
/// AdaptiveAvgPool1d/2d/3d, AdaptiveMaxPool1d/2d/3d, Upsample;</item>
/// <item>Flatten(1, -1) on axis 1: kept and total both multiply by the flattened spatial size, for a following Linear.</item>
/// </list>
/// Any other leaf layer that receives a marked tensor (including a convolution or Linear) produces an unmarked output.
/// A container other than a plain Sequential (e.g. ResNet's BasicBlock) unmarks the tensor it returns, because its own
/// forward may have combined tensors with functional code (a residual add) that hooks cannot see.
/// Not followed: functional operations (a new tensor is unmarked; an in-place one, outside a container, is invisible
/// and keeps the mark), concatenation, and anything into a grouped convolution.
/// </para>
/// The map holds tensor references during the forward pass only; <see cref="Clear"/> drops them.
/// </summary>
internal sealed class ChannelFlow
{
    private static readonly HashSet<Type> ElementWise =
    [
        typeof(ReLU), typeof(ReLU6), typeof(LeakyReLU), typeof(PReLU), typeof(ELU), typeof(CELU), typeof(SELU), typeof(GELU),
        typeof(SiLU), typeof(Mish), typeof(Sigmoid), typeof(Tanh), typeof(Hardswish), typeof(Hardsigmoid), typeof(Hardtanh),
        typeof(Softplus), typeof(Dropout), typeof(Dropout1d), typeof(Dropout2d), typeof(Dropout3d), typeof(AlphaDropout),
        typeof(FeatureAlphaDropout), typeof(Identity),
    ];

    private static readonly HashSet<Type> PerChannel =
    [
        typeof(BatchNorm1d), typeof(BatchNorm2d), typeof(BatchNorm3d), typeof(MaxPool1d), typeof(MaxPool2d), typeof(MaxPool3d),
        typeof(AvgPool1d), typeof(AvgPool2d), typeof(AvgPool3d), typeof(AdaptiveAvgPool1d), typeof(AdaptiveAvgPool2d),
        typeof(AdaptiveAvgPool3d), typeof(AdaptiveMaxPool1d), typeof(AdaptiveMaxPool2d), typeof(AdaptiveMaxPool3d), typeof(Upsample),
    ];

    private readonly Dictionary<Tensor, ChannelState> marks = new(ReferenceEqualityComparer.Instance);

    /// <summary>The kept-channel state of <paramref name="t"/>, or null when unknown.</summary>
    public ChannelState? Of(Tensor t) => marks.GetValueOrDefault(t);

    /// <summary>Updates the marks after a leaf layer that received a tensor of <paramref name="inShape"/> (kept-channel state <paramref name="inState"/>) returned <paramref name="output"/>.</summary>
    public void AfterLeaf(LayerSpec s, long[] inShape, Tensor output, long[] outShape, ChannelState? inState)
    {
        ChannelState? next = null;
        var type = s.Module.GetType();
        if (s.Kind is LayerKind.Conv or LayerKind.Linear)
        {
            if (s.KeptOutputs is long kept)
                next = new ChannelState(kept, s.OutputChannels, s.Kind == LayerKind.Conv ? 1 : outShape.Length - 1);
        }
        else if (inState is null) { }
        else if (ElementWise.Contains(type))
        {
            if (inShape.SequenceEqual(outShape)) next = inState;
        }
        else if (PerChannel.Contains(type))
        {
            if (inState.Axis == 1 && outShape.Length == inShape.Length && outShape[1] == inShape[1]) next = inState;
        }
        else if (s.Module is Flatten f && inState.Axis == 1 && f.start_dim == 1 && (f.end_dim == -1 || f.end_dim == inShape.Length - 1))
        {
            long inner = LayerRules.Product(inShape, 2);
            next = new ChannelState(inState.Kept * inner, inState.Total * inner, 1);
        }
        Set(output, next);
    }

    /// <summary>A container other than a plain Sequential returned <paramref name="output"/>: forget what is known of it.</summary>
    public void AfterContainer(Tensor output) => marks.Remove(output);

    /// <summary>Drops every tensor reference.</summary>
    public void Clear() => marks.Clear();

    private void Set(Tensor t, ChannelState? state)
    {
        if (state is null) marks.Remove(t);
        else marks[t] = state;
    }
}
