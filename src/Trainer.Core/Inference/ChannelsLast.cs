using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Inference;

/// <summary>
/// Channels-last (NHWC) memory layout for 4-d tensors and conv weights. TorchSharp 0.107 declares
/// <c>TorchSharp.memory_format.channels_last</c> but no call takes it (no <c>contiguous(memory_format)</c>,
/// <c>to(memory_format)</c> or <c>is_contiguous(memory_format)</c>). The nearest real thing is the layout itself:
/// <c>x.permute(0,2,3,1).contiguous().permute(0,3,1,2)</c> is an NCHW-shaped tensor with strides
/// (H·W·C, 1, W·C, C), exactly what PyTorch's <c>to(memory_format=torch.channels_last)</c> makes. libtorch's CPU
/// convolution (oneDNN) runs in channels-last when its input or its weight has that layout and returns a
/// channels-last output; BatchNorm, ReLU, pooling and element-wise adds keep it, so converting the conv
/// weights once puts the whole network in channels-last without touching the caller's input.
/// </summary>
public static class ChannelsLast
{
    // Convs kept NCHW inside a channels-last model (see ChannelsLastGuard), each with the removal of the hook that makes
    // its input NCHW.
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Conv2d, Action> Pinned = new();

    /// <summary>A channels-last copy of the 4-d tensor <paramref name="x"/> (same shape and values).</summary>
    /// <exception cref="ArgumentException"><paramref name="x"/> is not 4-d.</exception>
    public static Tensor Convert(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.dim() != 4) throw new ArgumentException($"channels-last needs a 4-d tensor, got shape [{string.Join(",", x.shape)}]", nameof(x));
        using var nhwc = x.permute(0, 2, 3, 1);
        using var packed = nhwc.contiguous();
        return packed.permute(0, 3, 1, 2);
    }

    /// <summary>True when the 4-d tensor <paramref name="x"/> has channels-last strides (channel stride 1). Strides of
    /// size-1 dimensions do not count: with one channel, NCHW and NHWC are the same memory.</summary>
    public static bool IsChannelsLast(Tensor x)
    {
        if (x.dim() != 4) return false;
        var s = x.stride();
        long c = x.shape[1], h = x.shape[2], w = x.shape[3];
        return (c == 1 || s[1] == 1) && (w == 1 || s[3] == c) && (h == 1 || s[2] == w * c);
    }

    /// <summary>Gives every Conv2d of <paramref name="model"/> a channels-last weight (values unchanged), except the convs
    /// pinned to NCHW (<see cref="PinContiguous"/>).</summary>
    /// <returns>The number of convs converted.</returns>
    public static int ConvertConvWeights(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        int converted = 0;
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not Conv2d conv || IsChannelsLast(conv.weight) || IsPinned(conv)) continue;
            bool requiresGrad = conv.weight.requires_grad;
            using var detached = conv.weight.detach();
            var weight = Convert(detached);
            conv.weight = new Parameter(weight, requires_grad: requiresGrad);
            converted++;
        }
        return converted;
    }

    /// <summary>Gives every Conv2d of <paramref name="model"/> a contiguous (NCHW) weight again.</summary>
    /// <returns>The number of convs converted.</returns>
    public static int RestoreConvWeights(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.named_modules().Select(m => m.module).OfType<Conv2d>().Count(RestoreWeight);
    }

    /// <summary>
    /// Keeps <paramref name="conv"/> in NCHW inside a channels-last model: its weight stays contiguous and a forward
    /// pre-hook makes its input contiguous (libtorch runs a conv in channels-last when either its input or its weight has
    /// that layout). Its output is then NCHW; the next channels-last conv turns the layout back. Idempotent.
    /// </summary>
    public static void PinContiguous(Conv2d conv)
    {
        ArgumentNullException.ThrowIfNull(conv);
        if (IsPinned(conv)) return;
        var hook = conv.register_forward_pre_hook((_, x) => IsChannelsLast(x) ? x.contiguous() : null!);   // null: the input as it is
        Pinned.Add(conv, hook.remove);
        RestoreWeight(conv);
    }

    /// <summary>True when <paramref name="conv"/> is pinned to NCHW.</summary>
    public static bool IsPinned(Conv2d conv) => Pinned.TryGetValue(conv, out _);

    /// <summary>Removes every pin of <paramref name="model"/>'s convs (the model's own layout rules again).</summary>
    public static void UnpinAll(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (_, module) in model.named_modules())
            if (module is Conv2d conv && Pinned.TryGetValue(conv, out var remove))
            {
                remove();
                Pinned.Remove(conv);
            }
    }

    /// <summary>Names of <paramref name="model"/>'s convs pinned to NCHW, in module order.</summary>
    public static IReadOnlyList<string> PinnedLayers(nn.Module model) =>
        model.named_modules().Where(m => m.module is Conv2d c && IsPinned(c)).Select(m => m.name).ToList();

    private static bool RestoreWeight(Conv2d conv)
    {
        if (conv.weight.is_contiguous()) return false;
        using var noGrad = no_grad();
        bool requiresGrad = conv.weight.requires_grad;
        using var detached = conv.weight.detach();
        conv.weight = new Parameter(detached.contiguous(), requires_grad: requiresGrad);
        return true;
    }
}
