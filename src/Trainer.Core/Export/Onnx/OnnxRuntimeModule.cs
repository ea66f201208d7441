using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// An <see cref="OnnxRuntimeSession"/> seen as a TorchSharp module, so a task scores ONNX Runtime's outputs with its own
/// metric (<see cref="Tasks.TrainingTask.ScoreOf"/> calls the module like any model). With a <paramref name="reference"/>
/// model, every call also runs it and records the largest difference between the two outputs; the module still returns
/// ONNX Runtime's output.
/// </summary>
/// <param name="model">The ONNX Runtime session (not owned).</param>
/// <param name="reference">The TorchSharp model to compare with, run in eval mode without gradients (not owned), or null.</param>
public sealed class OnnxRuntimeModule(OnnxRuntimeSession model, nn.Module<Tensor, Tensor>? reference = null)
    : nn.Module<Tensor, Tensor>("onnx-runtime")
{
    private bool ownsSession;

    /// <summary>Opens <paramref name="path"/> in ONNX Runtime (<see cref="OnnxRuntimeSession.Open"/>) as a module that owns and
    /// disposes its session.</summary>
    /// <exception cref="OnnxRuntimeSessionException">ONNX Runtime refuses the file (its message quoted).</exception>
    public static OnnxRuntimeModule Open(string path, int threads = 1) =>
        new(OnnxRuntimeSession.Open(path, threads)) { ownsSession = true };

    /// <summary>The largest absolute difference between ONNX Runtime's and the reference's outputs so far.</summary>
    public double MaxAbsDifference { get; private set; }

    /// <summary>The largest absolute value of the reference's outputs so far (the scale to read the difference against).</summary>
    public double MaxAbsOutput { get; private set; }

    /// <summary>Samples run so far.</summary>
    public long Samples { get; private set; }

    /// <summary>Calls made so far.</summary>
    public int Calls { get; private set; }

    /// <inheritdoc />
    /// <exception cref="OnnxRuntimeSessionException">ONNX Runtime failed, or its output's shape is not the reference's.</exception>
    public override Tensor forward(Tensor input)
    {
        var output = model.Run(input);
        Calls++;
        Samples += input.shape.Length > 0 ? input.shape[0] : 1;
        if (reference is null) return output;
        using (var scope = NewDisposeScope())
        {
            Tensor expected;
            using (no_grad())
            {
                var parameter = reference.parameters().FirstOrDefault();
                var x = parameter is null ? input : input.to(parameter.dtype, parameter.device);
                expected = reference.call(x).to_type(ScalarType.Float32).cpu();
            }
            if (!expected.shape.SequenceEqual(output.shape))
                throw new OnnxRuntimeSessionException($"ONNX Runtime's output of '{model.Path}' has shape [{string.Join(",", output.shape)}], " +
                                                    $"TorchSharp's [{string.Join(",", expected.shape)}]");
            MaxAbsDifference = Math.Max(MaxAbsDifference, (output - expected).abs().max().item<float>());
            MaxAbsOutput = Math.Max(MaxAbsOutput, expected.abs().max().item<float>());
        }
        return output;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsSession) model.Dispose();
        base.Dispose(disposing);
    }
}
