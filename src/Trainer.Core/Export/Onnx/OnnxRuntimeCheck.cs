using Microsoft.ML.OnnxRuntime;
using Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>Options of <see cref="OnnxRuntimeCheck.Verify"/>.</summary>
public sealed record OnnxCheckOptions
{
    /// <summary>ONNX Runtime's intra-op threads (its pool never spins, see <see cref="OnnxRuntimeCheck.CreateSessionOptions"/>).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The largest absolute difference allowed between ONNX Runtime's and TorchSharp's float outputs. 1e-4: float32
    /// sums of a few thousand terms in another order (MLAS against oneDNN/MKL) differ by about 1e-6 relative, and the
    /// outputs checked are of order 1-10.</summary>
    public double Tolerance { get; init; } = 1e-4;
}

/// <summary>What <see cref="OnnxRuntimeCheck.Verify"/> found.</summary>
/// <param name="MaxAbsDifference">The largest absolute difference between ONNX Runtime's and TorchSharp's outputs over all inputs.</param>
/// <param name="MaxAbsOutput">The largest absolute value of TorchSharp's outputs (the scale the difference is to be read against).</param>
/// <param name="FileBytes">The ONNX file's size.</param>
/// <param name="Opset">Its opset of the default domain.</param>
/// <param name="InputsChecked">How many inputs were compared.</param>
public sealed record OnnxCheckResult(double MaxAbsDifference, double MaxAbsOutput, long FileBytes, long Opset, int InputsChecked);

/// <summary>An ONNX file that ONNX Runtime refused or whose output differs from TorchSharp's; the file has been moved aside
/// to <see cref="RejectedPath"/> so that it is never taken for a good export.</summary>
public sealed class OnnxRuntimeRejectedException : Exception
{
    /// <summary>Creates the error; <paramref name="rejectedPath"/> is where the file now lies.</summary>
    public OnnxRuntimeRejectedException(string message, string rejectedPath, Exception? inner = null) : base(message, inner) =>
        RejectedPath = rejectedPath;

    /// <summary>Where the rejected file was moved.</summary>
    public string RejectedPath { get; }
}

/// <summary>
/// Loads an exported ONNX file into ONNX Runtime, runs it on given inputs and compares its output with the TorchSharp
/// model's eval output. A file ONNX Runtime refuses, or an output beyond the tolerance, moves the file to
/// "&lt;path&gt;.rejected" and throws <see cref="OnnxRuntimeRejectedException"/> with ONNX Runtime's message or the difference.
/// </summary>
public static class OnnxRuntimeCheck
{
    /// <summary>Session options used for every check: <paramref name="threads"/> intra-op threads, one inter-op thread, and
    /// spinning off in both pools (a spinning pool takes the cores from TorchSharp and other sessions in the process). When the
    /// program set up one process-wide pool (<see cref="OnnxRuntimeThreading.UseSharedPool"/>), sessions run on it instead and
    /// <paramref name="threads"/> is not used.</summary>
    public static SessionOptions CreateSessionOptions(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "ONNX Runtime needs at least one thread");
        if (OnnxRuntimeThreading.SharedThreads is not null)
        {
            // The process-wide pool (OnnxRuntimeThreading.UseSharedPool) sets the threads and the spinning.
            var shared = new SessionOptions { ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            shared.DisablePerSessionThreads();
            return shared;
        }
        var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        return options;
    }

    /// <summary>Checks the ONNX file at <paramref name="onnxPath"/> against <paramref name="model"/> on each of
    /// <paramref name="inputs"/> (float32, any batch size).</summary>
    /// <exception cref="ArgumentException">No inputs.</exception>
    /// <exception cref="OnnxRuntimeRejectedException">ONNX Runtime refused the file or an output differs by more than the
    /// tolerance; the file was moved aside.</exception>
    public static OnnxCheckResult Verify(string onnxPath, nn.Module<Tensor, Tensor> model, IReadOnlyList<Tensor> inputs, OnnxCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0) throw new ArgumentException("give at least one input to compare on", nameof(inputs));
        options ??= new OnnxCheckOptions();
        var full = Path.GetFullPath(onnxPath);
        double worst = 0, scale = 0;
        OnnxRuntimeSession session;
        try
        {
            session = OnnxRuntimeSession.Open(full, options.Threads);
        }
        catch (OnnxRuntimeSessionException e)
        {
            throw Reject(full, e.Message, e);
        }
        long opset = session.Opset;
        using (session)
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                foreach (var input in inputs)
                {
                    var (difference, magnitude) = Compare(session, model, input, full);
                    worst = Math.Max(worst, difference);
                    scale = Math.Max(scale, magnitude);
                }
            }
            finally
            {
                if (wasTraining) model.train();
            }
        }
        if (!(worst <= options.Tolerance))
            throw Reject(full, $"ONNX Runtime's output of '{full}' differs from TorchSharp's by {worst:g3} (tolerance {options.Tolerance:g3})");
        return new OnnxCheckResult(worst, scale, new FileInfo(full).Length, opset, inputs.Count);
    }

    private static (double Difference, double Magnitude) Compare(OnnxRuntimeSession session, nn.Module<Tensor, Tensor> model, Tensor input, string path)
    {
        using var scope = NewDisposeScope();
        var x = input.detach().to_type(ScalarType.Float32).cpu().contiguous();
        Tensor actual;
        try
        {
            actual = session.Run(x);
        }
        catch (OnnxRuntimeSessionException e)
        {
            throw Reject(path, e.Message, e);
        }
        Tensor expected;
        var device = model.parameters().FirstOrDefault()?.device ?? CPU;
        var dtype = model.parameters().FirstOrDefault()?.dtype ?? ScalarType.Float32;
        using (no_grad()) expected = model.call(x.to(dtype, device)).to_type(ScalarType.Float32).cpu().contiguous();
        if (!actual.shape.SequenceEqual(expected.shape))
            throw Reject(path, $"ONNX Runtime's output of '{path}' has shape [{string.Join(",", actual.shape)}], TorchSharp's [{string.Join(",", expected.shape)}]");
        return ((actual - expected).abs().max().item<float>(), expected.abs().max().item<float>());
    }

    /// <summary>The opset of the default domain the file at <paramref name="path"/> imports (0 when none).</summary>
    internal static long ReadOpset(string path)
    {
        using var stream = File.OpenRead(path);
        return ReadOpset(ModelProto.Parser.ParseFrom(stream));
    }

    /// <summary>The opset of the default domain <paramref name="model"/> imports (0 when none).</summary>
    internal static long ReadOpset(ModelProto model) =>
        model.OpsetImport.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx").Select(o => o.Version).DefaultIfEmpty(0).Max();

    /// <summary>Moves the file at <paramref name="path"/> to "&lt;path&gt;.rejected" and makes the error saying so.</summary>
    internal static OnnxRuntimeRejectedException Reject(string path, string message, Exception? inner = null)
    {
        var aside = path + ".rejected";
        if (File.Exists(path)) File.Move(path, aside, overwrite: true);
        return new OnnxRuntimeRejectedException($"{message}; the file was moved to '{aside}'", aside, inner);
    }
}
