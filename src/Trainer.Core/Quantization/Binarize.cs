using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Binarization (Courbariaux et al. 2016, "BNN"), with NNI v2.10's sign convention sign(0) = +1.</summary>
public static class Binarize
{
    /// <summary>
    /// ±1 with sign(0) = +1. Gradient: the hardtanh straight-through estimator, 1 where |x| ≤ 1 and 0 elsewhere
    /// (NNI's ClipGrad applies this to outputs; it passes weight gradients unchanged).
    /// </summary>
    public static Tensor Sign(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        using var scope = NewDisposeScope();
        var sign = where(x.detach().ge(0), ones_like(x), ones_like(x).neg());
        var inside = x.detach().abs().le(1).to(x.dtype);
        return Ste.Pass(sign, x, inside).MoveToOuterDisposeScope();
    }

    /// <summary>Per-channel scaling factor α = mean(|w|) over every axis but <paramref name="axis"/>, shaped to broadcast.</summary>
    public static Tensor ChannelScale(Tensor w, int axis = 0)
    {
        ArgumentNullException.ThrowIfNull(w);
        using var scope = NewDisposeScope();
        var dims = Enumerable.Range(0, (int)w.dim()).Where(d => d != axis).Select(d => (long)d).ToArray();
        if (axis < 0 || axis >= w.dim()) throw new ArgumentOutOfRangeException(nameof(axis), axis, $"Axis must be in [0, {w.dim() - 1}]; got {axis}.");
        return w.abs().mean(dims, keepdim: true).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// XNOR-Net weights (Rastegari et al. 2016): α·sign(w) with α per output channel, so each channel holds only ±α.
    /// NNI's BNNQuantizer has no such factor (plain ±1); use <see cref="Sign"/> for that. α is not detached, so autograd
    /// gives XNOR-Net's weight gradient.
    /// </summary>
    public static Tensor ScaledWeights(Tensor w, int axis = 0)
    {
        using var scope = NewDisposeScope();
        return (Sign(w) * ChannelScale(w, axis)).MoveToOuterDisposeScope();
    }
}
