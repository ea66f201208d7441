using System.Globalization;
using static TorchSharp.torch;

namespace Trainer.Core.Runtime;

/// <summary>Which kernels libtorch runs convolutions with.</summary>
public enum ConvKernelPolicy
{
    /// <summary>oneDNN unless <see cref="ConvKernels.SelfTest"/> finds it wrong on this CPU; then libtorch's own kernels.</summary>
    Auto,
    /// <summary>oneDNN (libtorch's default), whatever the self-test says.</summary>
    OneDnn,
    /// <summary>libtorch's own kernels (im2col + MKL GEMM): slower, never oneDNN.</summary>
    Native,
}

/// <summary>One conv shape that computed a wrong result.</summary>
public sealed record ConvFault(string Case, string Part, double MaxAbsDifference, double Excess)
{
    /// <summary>"NCHW 33→40 3x3 s1 14x14 batch 4 forward: max |diff| 1.9 (5.1e+04x the rounding bound)".</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Case} {Part}: max |diff| {MaxAbsDifference:g3} ({Excess:0.0e+00}x the rounding bound)");
}

/// <summary>
/// Checks that libtorch's float32 convolutions compute right on the CPU the process runs on, and stops using oneDNN where
/// they do not. Measured on AMD EPYC Zen 5 (AVX-512): libtorch 2.10's oneDNN 3.7.1 computes NCHW convs whose input
/// channels are above and not a multiple of the SIMD block (16 with AVX-512, 8 with AVX2) wrongly at batch sizes above 1
/// (errors as large as the outputs, sometimes NaN: the padded channels are read uninitialised), and channels-last 1×1
/// stride-2 convs wrongly at any batch (<c>brgconv_1x1:avx512_core</c>). Pruned widths hit the first case in training
/// and evaluation. PyTorch 1.13's oneDNN is right on the same CPU, and libtorch's own kernels are right.
/// <para>The self-test runs a small grid of those shapes in both layouts, forward and backward, against float64
/// (<see cref="ConvReference"/>): about 0.2 s, once per process.</para>
/// </summary>
public static class ConvKernels
{
    /// <summary>The environment variable that sets the policy of processes that do not set it in code
    /// (<c>auto</c>, <c>onednn</c>, <c>native</c>).</summary>
    public const string PolicyVariable = "TRAINER_CONV_KERNELS";

    private static readonly (int Cin, int Cout, int Kernel, int Stride, int Size, int Batch)[] Grid =
    [
        (16, 24, 3, 1, 14, 4), (17, 24, 3, 1, 14, 4), (24, 24, 3, 1, 14, 4), (33, 40, 3, 1, 14, 4), (40, 24, 3, 1, 8, 2),
        (24, 40, 3, 2, 14, 4), (33, 40, 3, 1, 14, 1), (256, 512, 1, 2, 14, 1), (128, 256, 1, 2, 8, 4),
    ];

    /// <summary>The policy in force.</summary>
    public static ConvKernelPolicy Policy { get; private set; } = ConvKernelPolicy.OneDnn;

    /// <summary>Whether oneDNN runs convolutions now.</summary>
    public static bool UsesOneDnn { get; private set; } = true;

    /// <summary>What the self-test found with oneDNN (empty: right, or not tested).</summary>
    public static IReadOnlyList<ConvFault> OneDnnFaults { get; private set; } = [];

    /// <summary>One line for logs: the policy, the kernels in use and why.</summary>
    public static string Status { get; private set; } = "not checked";

    /// <summary>Applies <paramref name="policy"/>: <see cref="ConvKernelPolicy.Auto"/> runs the self-test (once per process)
    /// and turns oneDNN off where it is wrong.</summary>
    /// <returns><see cref="Status"/>.</returns>
    public static string Apply(ConvKernelPolicy policy)
    {
        Policy = policy;
        if (policy == ConvKernelPolicy.Auto && !tested)
        {
            LibTorchContext.SetOneDnnEnabled(true);
            OneDnnFaults = SelfTest();
            tested = true;
        }
        UsesOneDnn = policy switch
        {
            ConvKernelPolicy.OneDnn => true,
            ConvKernelPolicy.Native => false,
            _ => OneDnnFaults.Count == 0,
        };
        if (!LibTorchContext.SetOneDnnEnabled(UsesOneDnn)) UsesOneDnn = LibTorchContext.OneDnnEnabled() ?? true;
        Status = (policy, UsesOneDnn) switch
        {
            (ConvKernelPolicy.Auto, true) => "convolutions: oneDNN (self-test right on this CPU)",
            (ConvKernelPolicy.Auto, false) => $"convolutions: libtorch's own kernels, because oneDNN computes " +
                                              $"{OneDnnFaults.Select(f => f.Case).Distinct().Count()} of {Grid.Length * 2} self-test " +
                                              $"shapes wrongly on this CPU, e.g. {OneDnnFaults[0]} " +
                                              $"({PolicyVariable}=onednn or Trainer:ConvKernels=onednn to use it anyway)",
            (_, true) => "convolutions: oneDNN (policy onednn, not self-tested)",
            _ => "convolutions: libtorch's own kernels (policy native)",
        };
        return Status;
    }

    private static bool tested;

    /// <summary>The policy named by <see cref="PolicyVariable"/> (<see cref="ConvKernelPolicy.Auto"/> when unset).</summary>
    /// <exception cref="ArgumentException">The variable holds another value.</exception>
    public static ConvKernelPolicy PolicyFromEnvironment()
    {
        var value = Environment.GetEnvironmentVariable(PolicyVariable);
        return string.IsNullOrWhiteSpace(value) ? ConvKernelPolicy.Auto
            : Enum.TryParse<ConvKernelPolicy>(value, ignoreCase: true, out var p) ? p
            : throw new ArgumentException($"{PolicyVariable}='{value}' is not a policy; use auto, onednn or native.");
    }

    /// <summary>Runs the grid with the kernels in force now; returns the wrong results (empty when all are right).</summary>
    public static IReadOnlyList<ConvFault> SelfTest()
    {
        var faults = new List<ConvFault>();
        var generator = new Generator(7);
        foreach (var (cin, cout, kernel, stride, size, batch) in Grid)
            foreach (var channelsLast in new[] { false, true })
            {
                long[] strides = [stride, stride], padding = [kernel / 2, kernel / 2];
                var name = string.Create(CultureInfo.InvariantCulture, $"{cin}→{cout} {kernel}x{kernel} s{stride}");
                var shape = new ConvShape(name, (x, w, b) => nn.functional.conv2d(x, w, b, strides, padding), [batch, cin, size, size],
                    [cout, cin, kernel, kernel], HasBias: true, channelsLast);
                faults.AddRange(ConvCase.Check(shape, generator, reference: null));
            }
        return faults;
    }

    /// <summary>
    /// Lets oneDNN run <paramref name="model"/> where the process default turned it off, if every conv of the model computes
    /// right with oneDNN at <paramref name="batchSizes"/> (forward and both gradients, against libtorch's own kernels, which
    /// the self-test proved right): oneDNN is wrong on this CPU for some shapes only, and is much faster for the rest.
    /// Dispose the scope to return to the process default.
    /// </summary>
    /// <param name="model">The model, as it will run (its weight layouts are the ones checked).</param>
    /// <param name="inputShape">One input shape of the model (any batch size).</param>
    /// <param name="batchSizes">The batch sizes it will run at (training, validation, the last partial batches).</param>
    public static ConvKernelScope ForModel(nn.Module<Tensor, Tensor> model, long[] inputShape, IEnumerable<long> batchSizes)
    {
        if (Policy != ConvKernelPolicy.Auto || UsesOneDnn || OneDnnFaults.Count == 0 || inputShape.Length == 0)
            return new ConvKernelScope(Status, restore: null);
        var shapes = ConvCase.ShapesOf(model, inputShape);
        var faults = new List<ConvFault>();
        var generator = new Generator(7);
        foreach (var batch in batchSizes.Distinct())
            foreach (var shape in shapes)
            {
                var batched = shape with { Input = [batch, .. shape.Input.Skip(1)] };
                var conv = (TorchSharp.Modules.Conv2d)model.named_modules().First(m => m.name == shape.Name).module;
                var key = Models.ConvCall.Signature(conv, batched.Input);
                faults.AddRange(ModelVerdicts.GetOrAdd(key, _ => CheckRepeatedly(batched, generator)));
            }
        if (faults.Count > 0)
            return new ConvKernelScope($"convolutions: libtorch's own kernels for this model (oneDNN is wrong here for {faults[0]})", restore: null);
        LibTorchContext.SetOneDnnEnabled(true);
        UsesOneDnn = true;
        return new ConvKernelScope("convolutions: oneDNN for this model (every conv checked right at batch sizes " +
                                   $"{string.Join(", ", batchSizes.Distinct())} on this CPU)", restore: () =>
        {
            LibTorchContext.SetOneDnnEnabled(false);
            UsesOneDnn = false;
        });
    }

    /// <summary>Checks of one shape before it is called right: some of oneDNN's faults here come and go between runs of the
    /// same shape (the input gradient of convs with 8 output channels at 2 threads was wrong in 4 to 10 runs of 10), so one
    /// passing run proves little; each run that passes by chance is about as likely as the fault is rare.</summary>
    internal const int ChecksPerShape = 4;

    private static List<ConvFault> CheckRepeatedly(ConvShape shape, Generator generator)
    {
        for (var run = 0; run < ChecksPerShape; run++)
            if (ConvCase.Check(shape, generator, reference: ConvKernelPolicy.Native) is { Count: > 0 } faults) return faults;
        return [];
    }

    // Verdicts of ForModel by conv shape, after ChecksPerShape runs on different values.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, List<ConvFault>> ModelVerdicts = new();
}

/// <summary>The kernels one model runs with until disposed (<see cref="ConvKernels.ForModel"/>).</summary>
public sealed class ConvKernelScope(string status, Action? restore) : IDisposable
{
    private Action? _restore = restore;

    /// <summary>What the scope chose, for the log.</summary>
    public string Status { get; } = status;

    /// <summary>Returns to the process default.</summary>
    public void Dispose()
    {
        _restore?.Invoke();
        _restore = null;
    }
}
