using System.Globalization;
using TorchSharp.Modules;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Inference;

/// <summary>A conv whose channels-last result disagreed with its NCHW result on this machine, so it stays NCHW.</summary>
/// <param name="Layer">The conv's module name.</param>
/// <param name="Batch">The batch size at which it disagreed first.</param>
/// <param name="MaxAbsDifference">Largest |channels-last − NCHW| of its outputs at that batch.</param>
/// <param name="Excess">That difference over the rounding bound of the exact result (above 1: wrong, not rounding).</param>
public sealed record LayoutFallback(string Layer, long Batch, double MaxAbsDifference, double Excess)
{
    /// <summary>"layer4.0.downsample.0 (batch 4: max |diff| 1.2 = 3.1e+03x the rounding bound)".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Layer} (batch {Batch}: max |diff| {MaxAbsDifference:g3} = {Excess:0.0e+00}x the rounding bound)");
}

/// <summary>
/// Checks every Conv2d of a model in channels-last on the machine it runs on, layer by layer, on the layer's real inputs,
/// against the exact (float64) result (<see cref="Runtime.ConvReference"/>). libtorch 2.10's oneDNN computes some
/// channels-last convs wrongly on some CPUs (seen on AMD Zen 5 with AVX-512: 1×1 stride-2 convs in
/// <c>brgconv_1x1:avx512_core</c>, off by as much as the outputs) while NCHW is right for them; which convs are hit
/// depends on the CPU, the kernels in use (<see cref="Runtime.ConvKernels"/>), the widths and the batch size, so the check
/// runs wherever a model is put in channels-last, at several batch sizes. A conv that is wrong in channels-last and right
/// in NCHW stays NCHW.
/// </summary>
public static class ChannelsLastGuard
{
    /// <summary>Computes a conv's output from a channels-last input and a channels-last weight (and the conv's bias).
    /// The default is libtorch's own conv; a test injects a faulty kernel here to prove the guard.</summary>
    public delegate Tensor ChannelsLastConv(string layer, Conv2d conv, Tensor input, Tensor weight);

    /// <summary>Batch sizes checked by default: batch 1 (the inference form's latency shape) and two batched shapes, since
    /// oneDNN picks other kernels for batches.</summary>
    public static IReadOnlyList<long> DefaultBatchSizes { get; } = [1, 4, 32];

    /// <summary>
    /// Runs <paramref name="model"/> (eval, NCHW weights) on a seeded random input of each batch size, and every Conv2d's
    /// input through the conv in channels-last, checked against the exact result.
    /// </summary>
    /// <param name="model">The model, with contiguous (NCHW) conv weights; not changed.</param>
    /// <param name="inputShape">The model's input shape; its first dimension is replaced by each batch size.</param>
    /// <param name="batchSizes">Batch sizes to check; <see cref="DefaultBatchSizes"/> when null.</param>
    /// <param name="channelsLastConv">The channels-last computation; libtorch's conv when null.</param>
    /// <returns>The convs whose channels-last result is wrong, in execution order (empty when all agree).</returns>
    public static IReadOnlyList<LayoutFallback> FindFaultyConvs(nn.Module<Tensor, Tensor> model, long[] inputShape,
        IReadOnlyList<long>? batchSizes = null, ChannelsLastConv? channelsLastConv = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        channelsLastConv ??= LibTorchConv;
        var convs = model.named_modules().Where(m => m.module is Conv2d).Select(m => (m.name, conv: (Conv2d)m.module)).ToList();
        var faulty = new List<LayoutFallback>();
        using var mode = new EvalModeScope(model);
        foreach (var batch in batchSizes ?? DefaultBatchSizes)
        {
            var inputs = CaptureConvInputs(model, convs, [batch, .. inputShape.Skip(1)]);
            try
            {
                foreach (var (name, conv) in convs)
                {
                    if (faulty.Any(f => f.Layer == name) || !inputs.TryGetValue(conv, out var seen)) continue;
                    foreach (var x in seen)
                    {
                        var (diff, excess) = channelsLastConv is null
                            ? Verdicts.GetOrAdd(ConvCall.Signature(conv, x.shape), _ => Compare(name, conv, x))
                            : Compare(name, conv, x, channelsLastConv);
                        if (excess <= 1) continue;
                        faulty.Add(new LayoutFallback(name, batch, diff, excess));
                        break;
                    }
                }
            }
            finally
            {
                foreach (var x in inputs.Values.SelectMany(v => v)) x.Dispose();
            }
        }
        return convs.Select(c => faulty.FirstOrDefault(f => f.Layer == c.name)).OfType<LayoutFallback>().ToList();
    }

    /// <summary>
    /// Finds the convs of <paramref name="model"/> whose channels-last result is wrong on this machine
    /// (<see cref="FindFaultyConvs"/>) and pins them, and the named <paramref name="alsoContiguous"/> ones, to NCHW
    /// (<see cref="ChannelsLast.PinContiguous"/>); each fallback is logged as a warning. The model must be NCHW; it stays
    /// NCHW (convert it with <see cref="ChannelsLast.ConvertConvWeights"/>, which skips the pinned convs).
    /// </summary>
    /// <exception cref="ArgumentException">A name in <paramref name="alsoContiguous"/> is not a Conv2d of the model.</exception>
    public static IReadOnlyList<LayoutFallback> PinFaultyConvs(nn.Module<Tensor, Tensor> model, long[] inputShape,
        IReadOnlyList<long>? batchSizes = null, ChannelsLastConv? channelsLastConv = null, IEnumerable<string>? alsoContiguous = null,
        Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var convs = model.named_modules().Where(m => m.module is Conv2d).ToDictionary(m => m.name, m => (Conv2d)m.module);
        foreach (var name in alsoContiguous ?? [])
            ChannelsLast.PinContiguous(convs.GetValueOrDefault(name) ?? throw new ArgumentException($"'{name}' is not a Conv2d of the model", nameof(alsoContiguous)));
        var faulty = FindFaultyConvs(model, inputShape, batchSizes, channelsLastConv);
        foreach (var f in faulty)
        {
            if (logger is not null)
                Microsoft.Extensions.Logging.LoggerExtensions.LogWarning(logger,
                    "Channels-last {Layer} computes a wrong result on this CPU (oneDNN's kernel); it stays NCHW: {Fallback}", f.Layer, f);
            ChannelsLast.PinContiguous(convs[f.Layer]);
        }
        return faulty;
    }

    /// <summary>Largest |channels-last − exact| of <paramref name="conv"/> on <paramref name="x"/>, and that difference over
    /// the rounding bound (above 1: wrong).</summary>
    /// <exception cref="InvalidOperationException">The conv is wrong in channels-last and in NCHW too.</exception>
    public static (double MaxAbsDifference, double Excess) Compare(string layer, Conv2d conv, Tensor x, ChannelsLastConv? channelsLastConv = null)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var weight = conv.weight.detach().contiguous();
        var bias = conv.bias?.detach();
        Tensor Run(Tensor input, Tensor w, Tensor? b) => ConvCall.Forward(conv, input, w, b);
        var last = (channelsLastConv ?? LibTorchConv)(layer, conv, ChannelsLast.Convert(x), ChannelsLast.Convert(weight));
        var checkedLast = Runtime.ConvReference.Check(Run, x, weight, bias, last);
        if (checkedLast.Excess <= 1) return checkedLast;
        var nchw = Runtime.ConvReference.Check(Run, x, weight, bias, Run(x.contiguous(), weight, bias));
        if (!(nchw.Excess <= 1))
            throw new InvalidOperationException(
                $"conv '{layer}' computes a wrong result in both layouts on this CPU (max |diff| {checkedLast.MaxAbsDifference:g3} channels-last, " +
                $"{nchw.MaxAbsDifference:g3} NCHW; {Runtime.ConvKernels.Status}); use libtorch's own kernels " +
                $"({Runtime.ConvKernels.PolicyVariable}=native or Trainer:ConvKernels=native)");
        return checkedLast;
    }

    // libtorch's verdict depends on the conv's geometry, its input's shape and the kernels in use, not on the values:
    // candidates of one allocation search share most layers, so each shape is checked once per process.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, (double, double)> Verdicts = new();

    private static Tensor LibTorchConv(string layer, Conv2d conv, Tensor input, Tensor weight) =>
        ConvCall.Forward(conv, input, weight, conv.bias?.detach());

    /// <summary>Every conv's inputs (one per call) in one NCHW forward pass of a seeded random input; the caller disposes them.</summary>
    private static Dictionary<Conv2d, List<Tensor>> CaptureConvInputs(nn.Module<Tensor, Tensor> model,
        List<(string name, Conv2d conv)> convs, long[] shape)
    {
        var inputs = new Dictionary<Conv2d, List<Tensor>>();
        var hooks = convs.Select(c => c.conv.register_forward_pre_hook((m, x) =>
        {
            // Detached from any scope the model's forward opens (TorchVision's ResNet disposes tensors made in hooks).
            var copy = x.contiguous().clone().DetachFromDisposeScope();
            if (!inputs.TryGetValue(c.conv, out var list)) inputs[c.conv] = list = [];
            list.Add(copy);
            return null!;   // null: the input as it is
        })).ToList();
        try
        {
            using var mode = inference_mode();
            using var pass = NewDisposeScope();
            model.call(randn(shape, generator: new Generator(0)));
        }
        finally
        {
            foreach (var h in hooks) h.remove();
        }
        return inputs;
    }
}
