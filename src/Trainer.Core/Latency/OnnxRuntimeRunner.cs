using Microsoft.ML.OnnxRuntime;
using Trainer.Core.Export.Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// One model in an ONNX Runtime session with a fixed random input, ready to be timed: <see cref="Run"/> is one forward pass.
/// The session is an <see cref="OnnxRuntimeSession"/>, so it takes the settings every session of the project takes
/// (<see cref="OnnxRuntimeCheck.CreateSessionOptions"/>): all graph optimisations
/// (ORT_ENABLE_ALL, which includes the blocked NCHWc layout), weight prepacking on (ONNX Runtime's default), the given
/// intra-op threads, one inter-op thread, sequential execution, and <b>spinning off</b> in both pools. Each session keeps
/// its own pool, but an idle pool sleeps instead of spinning, so sessions timed in turn (and TorchSharp in the same
/// process) do not take each other's cores. A process-wide shared pool is used only when the program chose one
/// (<see cref="OnnxRuntimeThreading.UseSharedPool"/>): it has to be set up before the first session of the process,
/// which a library inside a user's program does not own.
/// </summary>
public sealed class OnnxRuntimeRunner : IDisposable
{
    private readonly OnnxRuntimeSession session;
    private readonly OrtValue input;

    /// <summary>Loads <paramref name="onnxModel"/> (from <see cref="ExportBytes"/>) into a session with <paramref name="threads"/>
    /// intra-op threads and makes a random input of <paramref name="inputShape"/> (seeded: the same for every runner).</summary>
    /// <param name="onnxModel">The ONNX file's bytes.</param>
    /// <param name="inputShape">The input shape timed, batch included (the exported graph's batch is dynamic).</param>
    /// <param name="threads">ONNX Runtime's intra-op threads (at least 1).</param>
    /// <exception cref="OnnxRuntimeSessionException">ONNX Runtime refused the model.</exception>
    public OnnxRuntimeRunner(byte[] onnxModel, long[] inputShape, int threads)
    {
        ArgumentNullException.ThrowIfNull(onnxModel);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"input shape [{string.Join(",", inputShape)}] must have positive dimensions", nameof(inputShape));
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        session = OnnxRuntimeSession.Load(onnxModel, threads);
        var data = new float[inputShape.Aggregate(1L, (a, b) => a * b)];
        var random = new Random(5);
        for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
        input = OrtValue.CreateTensorValueFromMemory(data, inputShape);
        InputShape = [.. inputShape];
        Threads = threads;
    }

    /// <summary>The ONNX Runtime version of this process, e.g. "1.32.0".</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    /// <summary>The session settings in words, for reports and the latency table's key.</summary>
    public static string SettingsText => OnnxRuntimeThreading.SharedThreads is null
        ? "optimisation=all prepacking=on spinning=off inter-op=1 sequential"
        : $"optimisation=all prepacking=on sequential, {OnnxRuntimeThreading.PoolText}";

    /// <summary>The input shape each <see cref="Run"/> uses.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>ONNX Runtime's intra-op threads.</summary>
    public int Threads { get; }

    /// <summary>Exports <paramref name="model"/> (eval-mode forward, <see cref="OnnxExporter"/>) for inputs of <paramref name="inputShape"/>
    /// through a temporary file and returns the ONNX bytes; the file is deleted.</summary>
    /// <exception cref="OnnxExportException">A module of the model cannot be written as ONNX.</exception>
    public static byte[] ExportBytes(nn.Module<Tensor, Tensor> model, long[] inputShape)
    {
        ArgumentNullException.ThrowIfNull(model);
        var folder = Directory.CreateTempSubdirectory("trainer-ort-");
        try
        {
            var export = OnnxExporter.Export(model, inputShape, Path.Combine(folder.FullName, "model.onnx"));
            return File.ReadAllBytes(export.Path);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Exports <paramref name="model"/> for <paramref name="inputShape"/> and loads it (<see cref="ExportBytes"/>).</summary>
    public static OnnxRuntimeRunner Export(nn.Module<Tensor, Tensor> model, long[] inputShape, int threads) =>
        new(ExportBytes(model, inputShape), inputShape, threads);

    /// <summary>One forward pass on the runner's input; the output is freed at once.</summary>
    public void Run() => session.Run(input);

    /// <summary>One forward pass; the output's values and shape (for checks).</summary>
    public (float[] Values, long[] Shape) RunAndRead() => session.RunAndRead(input);

    /// <summary>Median milliseconds per forward pass of each model in ONNX Runtime: every model exported once, loaded with
    /// <paramref name="threads"/> intra-op threads, and all of them timed in alternating rounds by
    /// <see cref="OnnxRuntimeLatency.MedianMs"/> (the one ONNX Runtime timer of the project).</summary>
    /// <param name="models">The models (exportable by <see cref="OnnxExporter"/>).</param>
    /// <param name="inputShape">Input shape, batch included; the models are exported at batch 1.</param>
    /// <param name="threads">Intra-op threads.</param>
    /// <param name="rounds">Timed rounds.</param>
    /// <param name="callsPerRound">Passes of each model per round.</param>
    /// <param name="warmupRounds">Untimed rounds first.</param>
    public static double[] ForwardMs(IReadOnlyList<nn.Module<Tensor, Tensor>> models, long[] inputShape, int threads, int rounds,
        int callsPerRound = 3, int warmupRounds = 2)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        long[] exportShape = [1, .. inputShape.Skip(1)];
        var sessions = new List<OnnxRuntimeSession>();
        try
        {
            foreach (var model in models) sessions.Add(OnnxRuntimeSession.Load(ExportBytes(model, exportShape), threads));
            return OnnxRuntimeLatency.MedianMs(sessions, inputShape, model: null, rounds, callsPerRound, warmupRounds);
        }
        finally
        {
            foreach (var session in sessions) session.Dispose();
        }
    }

    /// <summary>A timer for <see cref="MeasuredChoice"/>: batch-1 forward passes in ONNX Runtime, alternating rounds.</summary>
    public static Func<IReadOnlyList<nn.Module<Tensor, Tensor>>, double[]> ForwardTimer(long[] inputShape, int threads, int rounds = 15) =>
        models => ForwardMs(models, inputShape, threads, rounds);

    /// <summary>Frees the session and the input.</summary>
    public void Dispose()
    {
        input.Dispose();
        session.Dispose();
    }
}
