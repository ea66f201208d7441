using Trainer.Core.Models;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>Options of <see cref="OnnxTaskCheck.Verify"/>.</summary>
public sealed record OnnxTaskCheckOptions
{
    /// <summary>The first this many validation samples are compared and scored (512: a few seconds for a small CNN, enough
    /// batches to meet every kind of input the task gives).</summary>
    public int Samples { get; init; } = 512;

    /// <summary>Samples per batch run through both runtimes.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>ONNX Runtime's intra-op threads (its pool never spins).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The largest absolute difference allowed between the two runtimes' float outputs (see
    /// <see cref="OnnxCheckOptions.Tolerance"/> for why 1e-4).</summary>
    public double Tolerance { get; init; } = 1e-4;
}

/// <summary>What <see cref="OnnxTaskCheck.Verify"/> found on the task's validation samples.</summary>
/// <param name="Path">The ONNX file checked.</param>
/// <param name="MaxAbsDifference">The largest absolute difference between ONNX Runtime's and TorchSharp's outputs.</param>
/// <param name="MaxAbsOutput">The largest absolute value of TorchSharp's outputs (the scale of the difference).</param>
/// <param name="FileBytes">The file's size.</param>
/// <param name="Opset">Its opset of the default domain.</param>
/// <param name="Samples">Validation samples compared and scored.</param>
/// <param name="Batches">Batches they came in.</param>
/// <param name="TorchSharpScore">The task's score of the TorchSharp model on those samples.</param>
/// <param name="OnnxRuntimeScore">The task's score computed from ONNX Runtime's outputs on the same samples.</param>
public sealed record OnnxTaskCheckResult(string Path, double MaxAbsDifference, double MaxAbsOutput, long FileBytes, long Opset, long Samples,
    int Batches, double TorchSharpScore, double OnnxRuntimeScore);

/// <summary>
/// Checks an exported ONNX file in ONNX Runtime on the task's own validation inputs: the first
/// <see cref="OnnxTaskCheckOptions.Samples"/> samples (<see cref="TrainingTask.ScoreLoader"/>) run through the TorchSharp
/// model and through ONNX Runtime, the float outputs compared batch by batch, and the task's score computed from each
/// runtime's outputs with the task's own metric. A file ONNX Runtime refuses, or outputs beyond the tolerance, move the file
/// to "&lt;path&gt;.rejected" and throw <see cref="OnnxRuntimeRejectedException"/>.
/// </summary>
public static class OnnxTaskCheck
{
    /// <summary>Checks <paramref name="onnxPath"/> against <paramref name="model"/> on <paramref name="task"/>'s validation samples.</summary>
    /// <exception cref="OnnxRuntimeRejectedException">ONNX Runtime refused or failed to run the file, or an output differs by
    /// more than the tolerance; the file was moved aside.</exception>
    /// <exception cref="InvalidOperationException">The task's score of either runtime is not a number.</exception>
    public static OnnxTaskCheckResult Verify(string onnxPath, nn.Module<Tensor, Tensor> model, TrainingTask task, OnnxTaskCheckOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(task);
        options ??= new OnnxTaskCheckOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Samples, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        var full = Path.GetFullPath(onnxPath);
        OnnxRuntimeSession ort;
        try
        {
            ort = OnnxRuntimeSession.Open(full, options.Threads);
        }
        catch (OnnxRuntimeSessionException e)
        {
            throw OnnxRuntimeCheck.Reject(full, e.Message, e);
        }
        using (ort)
        {
            var example = task.ExampleInputShape;
            if (!ort.Accepts(example))
                throw OnnxRuntimeCheck.Reject(full, $"'{full}' takes an input of shape [{string.Join(",", ort.InputDimensions)}], the task " +
                                                    $"'{task.Name}' gives [{string.Join(",", example)}]");
            var loader = task.ScoreLoader(options.Samples, options.BatchSize);
            double torchScore, ortScore;
            using var compared = new OnnxRuntimeModule(ort, model);
            using (new EvalModeScope(model))
            {
                torchScore = task.ScoreOf(model, loader);
                try
                {
                    ortScore = task.ScoreOf(compared, loader);
                }
                catch (OnnxRuntimeSessionException e)
                {
                    throw OnnxRuntimeCheck.Reject(full, e.Message, e);
                }
            }
            if (!(compared.MaxAbsDifference <= options.Tolerance))
                throw OnnxRuntimeCheck.Reject(full, $"ONNX Runtime's output of '{full}' differs from TorchSharp's by {compared.MaxAbsDifference:g3} " +
                                                    $"on the task '{task.Name}''s validation samples (tolerance {options.Tolerance:g3})");
            return new OnnxTaskCheckResult(full, compared.MaxAbsDifference, compared.MaxAbsOutput, new FileInfo(full).Length, ort.Opset,
                compared.Samples, compared.Calls, torchScore, ortScore);
        }
    }
}
