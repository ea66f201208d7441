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

    /// <summary>Gives every Conv2d of <paramref name="model"/> a channels-last weight (values unchanged).</summary>
    /// <returns>The number of convs converted.</returns>
    public static int ConvertConvWeights(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        int converted = 0;
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not Conv2d conv || IsChannelsLast(conv.weight)) continue;
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
        int converted = 0;
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not Conv2d conv || conv.weight.is_contiguous()) continue;
            bool requiresGrad = conv.weight.requires_grad;
            using var detached = conv.weight.detach();
            conv.weight = new Parameter(detached.contiguous(), requires_grad: requiresGrad);
            converted++;
        }
        return converted;
    }
}
