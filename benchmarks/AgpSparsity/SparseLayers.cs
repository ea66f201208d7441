using TorchSharp;
using static TorchSharp.torch;

namespace Benchmarks.AgpSparsity;

/// <summary>
/// A Linear whose weight is a COO sparse tensor (TorchSharp 0.107 has COO only, no CSR): y = (W_sparse · xᵀ)ᵀ + b, through
/// libtorch's sparse-dense mm.
/// </summary>
internal sealed class SparseLinear : nn.Module<Tensor, Tensor>
{
    private readonly Tensor _weight, _bias;

    public SparseLinear(Tensor weight, Tensor? bias) : base(nameof(SparseLinear))
    {
        _weight = weight.detach().to_sparse().DetachFromDisposeScope();
        _bias = (bias?.detach().clone() ?? torch.zeros(weight.shape[0])).DetachFromDisposeScope();
    }

    public override Tensor forward(Tensor input) => mm(_weight, input.t()).t().add(_bias);
}

/// <summary>A Conv2d computed as im2col (unfold) and a sparse-dense mm with the COO weight [out, in·k·k].</summary>
internal sealed class SparseConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Tensor _weight, _bias;
    private readonly long _kernel, _padding, _stride, _out;

    public SparseConv2d(Tensor weight, Tensor? bias, long padding, long stride) : base(nameof(SparseConv2d))
    {
        (_out, _kernel, _padding, _stride) = (weight.shape[0], weight.shape[2], padding, stride);
        _weight = weight.detach().reshape(_out, -1).to_sparse().DetachFromDisposeScope();
        _bias = (bias?.detach().clone() ?? torch.zeros(_out)).DetachFromDisposeScope();
    }

    public override Tensor forward(Tensor input)
    {
        long n = input.shape[0], h = input.shape[2], w = input.shape[3];
        long oh = (h + 2 * _padding - _kernel) / _stride + 1, ow = (w + 2 * _padding - _kernel) / _stride + 1;
        var cols = nn.functional.unfold(input, _kernel, padding: _padding, stride: _stride);      // [n, c·k·k, L]
        var flat = cols.transpose(0, 1).reshape(cols.shape[1], -1);                                 // [c·k·k, n·L]
        var y = mm(_weight, flat).reshape(_out, n, oh * ow).transpose(0, 1);                       // [n, out, L]
        return y.reshape(n, _out, oh, ow).add(_bias.reshape(1, -1, 1, 1));
    }
}
