using System.Globalization;
using TorchSharp.Modules;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Runtime;

/// <summary>One convolution shape to check: its geometry as a function of (input, weight, bias), and its tensors' shapes.</summary>
/// <param name="Name">How a fault names it.</param>
/// <param name="Conv">The convolution with the shape's stride, padding, dilation and groups.</param>
/// <param name="Input">Input shape [N, C, H, W].</param>
/// <param name="Weight">Weight shape [Cout, C/groups, kH, kW].</param>
/// <param name="HasBias">Whether the conv adds a bias.</param>
/// <param name="ChannelsLast">Whether input and weight are channels-last.</param>
public sealed record ConvShape(string Name, Func<Tensor, Tensor, Tensor?, Tensor> Conv, long[] Input, long[] Weight, bool HasBias, bool ChannelsLast)
{
    /// <summary>The shape of <paramref name="conv"/> at <paramref name="input"/>, in its weight's layout.</summary>
    public static ConvShape Of(string name, Conv2d conv, long[] input) =>
        new(name, (x, w, b) => ConvCall.Forward(conv, x, w, b), input, conv.weight.shape, conv.bias is not null,
            Inference.ChannelsLast.IsChannelsLast(conv.weight));
}

/// <summary>Runs one <see cref="ConvShape"/> forward and backward on seeded random data and checks the output, the input
/// gradient and the weight gradient against a reference, within the rounding bound of <see cref="ConvReference"/>.</summary>
internal static class ConvCase
{
    /// <summary>The wrong parts of <paramref name="shape"/> with the kernels in force (oneDNN when <paramref name="reference"/>
    /// is <see cref="ConvKernelPolicy.Native"/>), against float64 (<paramref name="reference"/> null) or against libtorch's
    /// own float32 kernels (<see cref="ConvKernelPolicy.Native"/>).</summary>
    public static List<ConvFault> Check(ConvShape shape, Generator generator, ConvKernelPolicy? reference)
    {
        using var scope = NewDisposeScope();
        var x = randn(shape.Input, generator: generator);
        var w = randn(shape.Weight, generator: generator).mul_(0.2);
        var b = shape.HasBias ? randn([shape.Weight[0]], generator: generator) : null;
        var outShape = shape.Conv(x.narrow(0, 0, 1), w, b).shape;
        var g = randn([shape.Input[0], .. outShape.Skip(1)], generator: generator);

        bool oneDnnBefore = ConvKernels.UsesOneDnn;
        if (reference == ConvKernelPolicy.Native) LibTorchContext.SetOneDnnEnabled(true);
        var tested = Float32(shape, x, w, b, g);
        (Tensor Y, Tensor GradX, Tensor GradW) exact, magnitude;
        if (reference == ConvKernelPolicy.Native)
        {
            LibTorchContext.SetOneDnnEnabled(false);
            exact = Float32(shape, x, w, b, g);
            magnitude = Float32(shape, x.abs(), w.abs(), b?.abs(), g.abs());
            LibTorchContext.SetOneDnnEnabled(oneDnnBefore);
        }
        else
        {
            exact = Float64(shape.Conv, x, w, b, g);
            magnitude = Float64(shape.Conv, x.abs(), w.abs(), b?.abs(), g.abs());
        }
        long perOutput = shape.Weight[1] * shape.Weight[2] * shape.Weight[3];
        var parts = new (string Part, Tensor Tested, Tensor Exact, Tensor Magnitude, long K)[]
        {
            ("forward", tested.Y, exact.Y, magnitude.Y, perOutput + 1),
            ("input gradient", tested.GradX, exact.GradX, magnitude.GradX, shape.Weight[0] * shape.Weight[2] * shape.Weight[3]),
            ("weight gradient", tested.GradW, exact.GradW, magnitude.GradW, g.numel() / g.shape[1]),
        };
        var name = string.Create(CultureInfo.InvariantCulture,
            $"{(shape.ChannelsLast ? "channels-last" : "NCHW")} {shape.Name} input [{string.Join(",", shape.Input)}]");
        var faults = new List<ConvFault>();
        foreach (var (part, t, e, m, k) in parts)
        {
            var (diff, excess) = ConvReference.Excess(t, e, m, k);
            if (!(excess <= 1)) faults.Add(new ConvFault(name, part, diff, excess));
        }
        return faults;
    }

    /// <summary>Every Conv2d of <paramref name="model"/> with its input shape at batch 1, from one eval forward pass.</summary>
    public static List<ConvShape> ShapesOf(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        var shapes = new List<ConvShape>();
        var hooks = model.named_modules().Where(m => m.module is Conv2d).Select(m => ((Conv2d)m.module).register_forward_pre_hook((_, x) =>
        {
            shapes.Add(ConvShape.Of(m.name, (Conv2d)m.module, x.shape));
            return null!;   // null: the input as it is
        })).ToList();
        try
        {
            using var eval = new EvalModeScope(model);
            using var mode = inference_mode();
            using var scope = NewDisposeScope();
            model.call(zeros([1, .. inputShape.Skip(1)]));
        }
        finally
        {
            foreach (var h in hooks) h.remove();
        }
        return shapes;
    }

    private static (Tensor Y, Tensor GradX, Tensor GradW) Float32(ConvShape shape, Tensor x, Tensor w, Tensor? b, Tensor g)
    {
        Tensor Layout(Tensor t) => shape.ChannelsLast ? Inference.ChannelsLast.Convert(t) : t;
        var x32 = Layout(x).detach().requires_grad_(true);
        var w32 = Layout(w).detach().requires_grad_(true);
        var y = shape.Conv(x32, w32, b);
        y.backward([Layout(g)]);
        return (y.detach(), x32.grad!, w32.grad!);
    }

    private static (Tensor Y, Tensor GradX, Tensor GradW) Float64(Func<Tensor, Tensor, Tensor?, Tensor> conv, Tensor x, Tensor w, Tensor? b,
        Tensor g)
    {
        var x64 = x.to(float64).detach().requires_grad_(true);
        var w64 = w.to(float64).detach().requires_grad_(true);
        var y = conv(x64, w64, b?.to(float64));
        y.backward([g.to(float64)]);
        return (y.detach(), x64.grad!, w64.grad!);
    }
}
