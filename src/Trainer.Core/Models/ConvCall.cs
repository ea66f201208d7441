using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>A Conv2d's own forward (its padding mode, stride, dilation and groups) with another weight and bias: how
/// quantized layers run their quantized weight and how the layout guard runs a conv in both memory layouts.</summary>
public static class ConvCall
{
    /// <summary><paramref name="c"/>'s forward on <paramref name="x"/> with <paramref name="weight"/> and <paramref name="bias"/>
    /// in place of its own parameters.</summary>
    public static Tensor Forward(Conv2d c, Tensor x, Tensor weight, Tensor? bias)
    {
        if (c.padding_mode != PaddingModes.Zeros)
        {
            var pad = new[] { c.padding![1], c.padding[1], c.padding[0], c.padding[0] };
            using var padded = nn.functional.pad(x, pad, c.padding_mode);
            return nn.functional.conv2d(padded, weight, bias, c.stride, new[] { 0L, 0L }, c.dilation, c.groups);
        }
        if (c.padding_type is Padding type)
            return nn.functional.conv2d_padding(x, weight, bias, c.stride, type, c.dilation, c.groups);
        return nn.functional.conv2d(x, weight, bias, c.stride, c.padding, c.dilation, c.groups);
    }

    /// <summary>What libtorch's choice of kernel depends on for <paramref name="c"/> at <paramref name="inputShape"/>: its
    /// geometry, the shapes and layouts, and whether oneDNN is on (values do not matter). A key for cached verdicts.</summary>
    public static string Signature(Conv2d c, long[] inputShape) => string.Join(";", string.Join(",", c.weight.shape),
        string.Join(",", inputShape), string.Join(",", c.stride), string.Join(",", c.padding ?? []), c.padding_type?.ToString() ?? "",
        c.padding_mode, string.Join(",", c.dilation), c.groups, c.bias is null, Inference.ChannelsLast.IsChannelsLast(c.weight),
        Runtime.ConvKernels.UsesOneDnn);
}
