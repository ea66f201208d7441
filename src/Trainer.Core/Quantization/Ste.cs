using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Straight-through building blocks made of <c>detach</c>, since TorchSharp has no fake-quantize kernels.</summary>
public static class Ste
{
    /// <summary>
    /// Returns a tensor whose value is exactly <paramref name="value"/> and whose gradient w.r.t. <paramref name="x"/> is
    /// <paramref name="mask"/> (1 passes, 0 blocks): <c>value.detach() + (x*mask - (x*mask).detach())</c>. The added term is
    /// exactly zero, so the forward is bitwise the quantized value.
    /// </summary>
    public static Tensor Pass(Tensor value, Tensor x, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        var xm = mask is null ? x : x * mask;
        return (value.detach() + (xm - xm.detach())).MoveToOuterDisposeScope();
    }

    /// <summary>Rounds with an identity gradient (NNI's <c>round_pass</c>).</summary>
    public static Tensor Round(Tensor x)
    {
        using var r = x.round();
        return Pass(r, x);
    }

    /// <summary>
    /// Leaves the value of <paramref name="s"/> unchanged and multiplies its gradient by <paramref name="g"/>:
    /// <c>(s - s*g).detach() + s*g</c> (Esser et al. 2020).
    /// </summary>
    public static Tensor GradScale(Tensor s, double g)
    {
        using var scope = NewDisposeScope();
        var sg = s * g;
        return ((s - sg).detach() + sg).MoveToOuterDisposeScope();
    }

    /// <summary>Reshapes a per-channel vector to broadcast along <paramref name="axis"/> of a tensor of rank <paramref name="rank"/>.</summary>
    public static Tensor AlongAxis(Tensor perChannel, long rank, int axis)
    {
        if (axis < 0 || axis >= rank)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"The channel axis must be in [0, {rank - 1}]; got {axis}.");
        var shape = Enumerable.Repeat(1L, (int)rank).ToArray();
        shape[axis] = -1;
        return perChannel.reshape(shape);
    }
}
