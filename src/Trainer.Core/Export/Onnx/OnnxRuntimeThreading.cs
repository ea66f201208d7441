using Microsoft.ML.OnnxRuntime;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// Which thread pools ONNX Runtime's sessions of this process use. By default every session gets its own pool of the
/// requested threads with spinning off (<see cref="OnnxRuntimeCheck.CreateSessionOptions"/>): an idle pool sleeps, so
/// sessions timed in turn and TorchSharp work in the same process do not take each other's cores; the price is that a
/// sleeping worker must be woken at every parallel section of every operator, a fixed cost per operator that does not
/// shrink with the model's MACs. A program that owns its process (a host, a benchmark, a server) can instead call
/// <see cref="UseSharedPool"/> once, before anything touches ONNX Runtime: every later session then runs on one
/// process-wide pool that spins as ONNX Runtime does by default, so sessions run in turn never compete for cores and a
/// worker is awake when the next operator starts.
/// </summary>
public static class OnnxRuntimeThreading
{
    private static readonly object Gate = new();

    /// <summary>Threads of the process-wide pool when <see cref="UseSharedPool"/> set one up, else null (per-session pools).</summary>
    public static int? SharedThreads { get; private set; }

    /// <summary>Whether the process-wide pool spins (null when there is none).</summary>
    public static bool? SharedSpinning { get; private set; }

    /// <summary>The pool settings in words, for reports and latency-table keys.</summary>
    public static string PoolText => SharedThreads is { } threads
        ? $"one shared pool of {threads} intra-op threads, spinning={(SharedSpinning == true ? "on" : "off")}"
        : "a pool per session, spinning=off";

    /// <summary>Creates ONNX Runtime's environment with one pool of <paramref name="intraOpThreads"/> intra-op threads that every
    /// session created afterwards shares (sessions then have no pool of their own).</summary>
    /// <param name="intraOpThreads">Intra-op threads of the shared pool (the calling thread is one of them).</param>
    /// <param name="spinning">Whether idle workers spin (ONNX Runtime's default) rather than sleep.</param>
    /// <exception cref="InvalidOperationException">ONNX Runtime's environment already exists in this process (a session was
    /// created or its version read before): the pool must be chosen first, at the start of the program.</exception>
    public static void UseSharedPool(int intraOpThreads, bool spinning = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(intraOpThreads, 1);
        lock (Gate)
        {
            if (SharedThreads is not null || OrtEnv.IsCreated)
                throw new InvalidOperationException(
                    "ONNX Runtime's environment already exists in this process, so its thread pools are fixed; call " +
                    "OnnxRuntimeThreading.UseSharedPool at the start of the program, before any ONNX Runtime session is created.");
            using var threading = new OrtThreadingOptions
            {
                GlobalIntraOpNumThreads = intraOpThreads,
                GlobalInterOpNumThreads = 1,
                GlobalSpinControl = spinning,
            };
            var options = new EnvironmentCreationOptions { threadOptions = threading, logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING };
            OrtEnv.CreateInstanceWithOptions(ref options);
            SharedThreads = intraOpThreads;
            SharedSpinning = spinning;
        }
    }
}
