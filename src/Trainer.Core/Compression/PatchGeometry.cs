using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>How a Conv2d reads its input: kernel, stride, dilation and the padding on each side with its mode.</summary>
internal sealed record PatchGeometry(string Layer, long KernelH, long KernelW, long StrideH, long StrideW, long DilationH, long DilationW,
    long Top, long Bottom, long Left, long Right, PaddingModes Mode)
{
    /// <summary>The geometry of <paramref name="conv"/>.</summary>
    public static PatchGeometry Of(string layer, Conv2d conv)
    {
        long kh = conv.kernel_size[0], kw = conv.kernel_size[1], dh = conv.dilation[0], dw = conv.dilation[1];
        long top, bottom, left, right;
        if (conv.padding is { } p)
        {
            (top, bottom, left, right) = (p[0], p[0], p[1], p[1]);
        }
        else if (conv.padding_type == Padding.Same)
        {
            // PyTorch's 'same': total dilation·(k−1), the smaller half first.
            long th = dh * (kh - 1), tw = dw * (kw - 1);
            (top, bottom, left, right) = (th / 2, th - th / 2, tw / 2, tw - tw / 2);
        }
        else
        {
            (top, bottom, left, right) = (0, 0, 0, 0);
        }
        var mode = conv.padding_mode == PaddingModes.Zeros ? PaddingModes.Constant : conv.padding_mode;
        return new PatchGeometry(layer, kh, kw, conv.stride[0], conv.stride[1], dh, dw, top, bottom, left, right, mode);
    }

    /// <summary>
    /// Up to <paramref name="perImage"/> distinct output positions per image: the input patch [N, Cin, kh·kw] that produced each and
    /// the output [N, Cout] there.
    /// </summary>
    public (Tensor Inputs, Tensor Responses) Rows(Tensor input, Tensor output, int perImage, Generator generator)
    {
        long b = input.shape[0], cin = input.shape[1], h = input.shape[2], w = input.shape[3];
        long cout = output.shape[1], ho = output.shape[2], wo = output.shape[3];
        long hp = h + Top + Bottom, wp = w + Left + Right;
        long expectH = (hp - DilationH * (KernelH - 1) - 1) / StrideH + 1, expectW = (wp - DilationW * (KernelW - 1) - 1) / StrideW + 1;
        if (output.shape[0] != b || expectH != ho || expectW != wo)
            throw new ArgumentException(
                $"'{Layer}': the current model's input [{string.Join(",", input.shape)}] gives a {expectH}x{expectW} output, but the reference " +
                $"model's output is [{string.Join(",", output.shape)}]; the models differ before this layer in a way sampling cannot match",
                nameof(input));

        long positions = ho * wo, p = Math.Min(perImage, positions);
        var pos = rand([b, positions], generator: generator).argsort(1).narrow(1, 0, p);
        var oy = pos.div(wo, rounding_mode: RoundingMode.floor).view(b, p, 1, 1);
        var ox = pos.remainder(wo).view(b, p, 1, 1);
        var ky = arange(KernelH).mul(DilationH).view(1, 1, KernelH, 1);
        var kx = arange(KernelW).mul(DilationW).view(1, 1, 1, KernelW);
        var flat = (oy * StrideH + ky) * wp + (ox * StrideW + kx);
        long kk = KernelH * KernelW;
        var index = flat.reshape(b, 1, p * kk).expand(b, cin, p * kk);

        var padded = Top + Bottom + Left + Right == 0 ? input : nn.functional.pad(input, [Left, Right, Top, Bottom], Mode);
        var patches = padded.reshape(b, cin, hp * wp).gather(2, index).view(b, cin, p, kk).permute(0, 2, 1, 3).reshape(b * p, cin, kk);
        var responses = output.reshape(b, cout, positions).gather(2, pos.unsqueeze(1).expand(b, cout, p)).permute(0, 2, 1).reshape(b * p, cout);
        return (patches, responses);
    }
}
