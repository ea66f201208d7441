using Microsoft.ML.OnnxRuntime;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// An ONNX file run by ONNX Runtime behind TorchSharp's module interface, so a task scores it with the same code that
/// scores the TorchSharp model (<c>TrainingTask.ScoreOf</c>). Forward only: inputs are copied to float32 on the CPU, the
/// output comes back as a CPU float32 tensor without gradient.
/// </summary>
public sealed class OnnxRuntimeModel : nn.Module<Tensor, Tensor>
{
    private readonly InferenceSession session;

    /// <summary>Opens <paramref name="onnxPath"/> with <see cref="OnnxRuntimeCheck.CreateSessionOptions"/> (<paramref name="threads"/>
    /// intra-op threads, spinning off).</summary>
    /// <exception cref="OnnxRuntimeException">ONNX Runtime refuses the file.</exception>
    public OnnxRuntimeModel(string onnxPath, int threads = 1) : base(nameof(OnnxRuntimeModel))
    {
        using var options = OnnxRuntimeCheck.CreateSessionOptions(threads);
        session = new InferenceSession(onnxPath, options);
        Path = onnxPath;
    }

    /// <summary>The file run.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.detach().to_type(ScalarType.Float32).cpu().contiguous();
        using var value = OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), x.shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [OnnxExporter.InputName], [value], [OnnxExporter.OutputName]);
        var shape = outputs[0].GetTensorTypeAndShape().Shape;
        return tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), shape).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) session.Dispose();
        base.Dispose(disposing);
    }
}
