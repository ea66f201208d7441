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
        defaultUsesOneDnn = UsesOneDnn;
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
    private static bool defaultUsesOneDnn = true;

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
    /// the self-test proved right) and has whole channel blocks (<see cref="InBlockedChannels"/>): oneDNN is wrong on this
    /// CPU for some shapes only, and is much faster for the rest.
    /// Dispose the scope (on the thread that made it) to return to the process default.
    /// </summary>
    /// <remarks>libtorch's oneDNN switch is one per process, so models run at the same time on several threads (two trainings
    /// in one program, tests in parallel) share it: a model running with oneDNN on, or a check turning it on for a moment,
    /// would run another thread's convs with oneDNN too, including shapes it computes wrongly here (seen: NaN losses of a
    /// concurrent training). So a scope with oneDNN on, and every check, runs alone (a process-wide write lock), and scopes
    /// with libtorch's own kernels run side by side (a read lock). A model run inside another's scope on the same thread gets
    /// its own verdict when the outer scope runs alone, and libtorch's own kernels, unchecked, when it does not.</remarks>
    /// <param name="model">The model, as it will run (its weight layouts are the ones checked).</param>
    /// <param name="inputShape">One input shape of the model (any batch size); empty: not checked, libtorch's own kernels.</param>
    /// <param name="batchSizes">The batch sizes it will run at (training, validation, the last partial batches).</param>
    public static ConvKernelScope ForModel(nn.Module<Tensor, Tensor> model, long[] inputShape, IEnumerable<long> batchSizes)
    {
        if (!ChecksModels) return new ConvKernelScope(Status, restore: null);
        if (inputShape.Length == 0 || (Gate.IsReadLockHeld && !Gate.IsWriteLockHeld)) return Native(Status);
        var shapes = ConvCase.ShapesOf(model, inputShape);
        if (shapes.FirstOrDefault(s => !InBlockedChannels(s)) is { } unblocked)
        {
            var (inPerGroup, outPerGroup) = ChannelsPerGroup(unblocked);
            return Native($"convolutions: libtorch's own kernels for this model ({unblocked.Name}: {inPerGroup}→{outPerGroup} " +
                          $"channels per group, not whole blocks of {OneDnnBlock}, where oneDNN is wrong on this CPU)");
        }
        Gate.EnterWriteLock();
        List<ConvFault> faults;
        try
        {
            faults = Check(model, shapes, batchSizes);
        }
        catch
        {
            Gate.ExitWriteLock();
            throw;
        }
        if (faults.Count > 0)
        {
            var scope = Native($"convolutions: libtorch's own kernels for this model (oneDNN is wrong here for {faults[0]})");
            Gate.ExitWriteLock();   // a downgrade: the read lock (or the outer write lock) is held
            return scope;
        }
        // Alone until disposed: the write lock stays held.
        var before = UsesOneDnn;
        Switch(true);
        return new ConvKernelScope("convolutions: oneDNN for this model (every conv checked right at batch sizes " +
                                   $"{string.Join(", ", batchSizes.Distinct())} on this CPU)", restore: () =>
        {
            Switch(before);
            Gate.ExitWriteLock();
        });
    }

    /// <summary>Whether models are checked one by one (<see cref="ForModel"/>): the policy is auto and the self-test found
    /// oneDNN wrong on this CPU, so the process default is libtorch's own kernels.</summary>
    public static bool ChecksModels => Policy == ConvKernelPolicy.Auto && OneDnnFaults.Count > 0 && !defaultUsesOneDnn;

    // Holders: scopes with oneDNN on and checks (write), scopes with libtorch's own kernels (read). Recursive: a model run
    // inside another's scope on the same thread.
    private static readonly ReaderWriterLockSlim Gate = new(LockRecursionPolicy.SupportsRecursion);

    /// <summary>A scope with libtorch's own kernels: side by side with others (a read lock), or, inside a scope running alone
    /// on this thread, oneDNN switched off until it ends.</summary>
    private static ConvKernelScope Native(string status)
    {
        Gate.EnterReadLock();
        var before = UsesOneDnn;
        if (before) Switch(false);
        return new ConvKernelScope(status, restore: () =>
        {
            if (before) Switch(true);
            Gate.ExitReadLock();
        });
    }

    private static void Switch(bool oneDnn)
    {
        LibTorchContext.SetOneDnnEnabled(oneDnn);
        UsesOneDnn = oneDnn;
    }

    /// <summary>oneDNN's channel block on AVX-512 (16; AVX2's is 8, so whole blocks of 16 are whole blocks there too).</summary>
    public const int OneDnnBlock = 16;

    /// <summary>
    /// Whether oneDNN may run <paramref name="shape"/> at all: its output channels per group are whole blocks, and its input
    /// channels per group are whole blocks or fewer than one (a first conv, which oneDNN reads unblocked). Other shapes pad
    /// their channels to the block, and the fault reads that padding: measured here (100 runs each, forward and both
    /// gradients), 16→24, 24→16, 16→8 and 1→8 were wrong in 3 to 100 runs and nondeterministic, 3→6 and 6→4 wrong in 41
    /// and 49 and NaN in some, while 1→16, 3→32, 8→16, 12→16, 16→16, 16→32, 32→16, 32→64 and 48→48 never were. A fault
    /// that comes in a few runs of 100 passes <see cref="ChecksPerShape"/> checks often, so the checks alone let it through.
    /// </summary>
    public static bool InBlockedChannels(ConvShape shape)
    {
        var (inPerGroup, outPerGroup) = ChannelsPerGroup(shape);
        return outPerGroup % OneDnnBlock == 0 && (inPerGroup < OneDnnBlock || inPerGroup % OneDnnBlock == 0);
    }

    private static (long In, long Out) ChannelsPerGroup(ConvShape shape)
    {
        var groups = shape.Input[1] / shape.Weight[1];
        return (shape.Weight[1], shape.Weight[0] / groups);
    }

    private static List<ConvFault> Check(nn.Module<Tensor, Tensor> model, List<ConvShape> shapes, IEnumerable<long> batchSizes)
    {
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
        return faults;
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
