using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>Learned step size quantization (Esser et al. 2020, "LSQ"), with NNI v2.10's order of operations.</summary>
public static class LsqQuantizer
{
    /// <summary>Gradient scale g = 1 / sqrt(numel · qmax).</summary>
    public static double GradScaleFactor(long numel, int qmax)
    {
        if (numel <= 0 || qmax <= 0) throw new ArgumentOutOfRangeException(nameof(qmax), $"numel and qmax must be positive; got {numel} and {qmax}.");
        return 1.0 / Math.Sqrt((double)numel * qmax);
    }

    /// <summary>Initial step 2·mean(|w|)/sqrt(qmax), a detached 0-dim float32 tensor.</summary>
    public static Tensor InitialStep(Tensor w, int qmax)
    {
        using var noGrad = no_grad();
        using var mean = w.detach().abs().mean();
        return (mean * (2.0 / Math.Sqrt(qmax))).to(ScalarType.Float32);
    }

    /// <summary>
    /// y = round_pass(clamp(x / s', qmin, qmax)) · s' with s' = grad_scale(s, g). The value is quantize→dequantize with step s;
    /// x gets gradient 1 inside [qmin·s, qmax·s] and 0 outside; s gets the LSQ gradient (round(v) − v inside, qmin or qmax
    /// outside) scaled by g.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor step, int qmin, int qmax)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(step);
        using var scope = NewDisposeScope();
        var s = Ste.GradScale(step, GradScaleFactor(x.numel(), qmax));
        var v = (x / s).clamp(qmin, qmax);
        return (Ste.Round(v) * s).MoveToOuterDisposeScope();
    }

    /// <summary>Applies <paramref name="p"/>'s grid (per tensor).</summary>
    public static Tensor Apply(Tensor x, Tensor step, QuantParams p) => Apply(x, step, p.QMin, p.QMax);
}
