using Microsoft.ML.OnnxRuntime;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>Median milliseconds of one forward pass in ONNX Runtime and, when given, of the TorchSharp model, in ms.</summary>
/// <param name="Batch">The batch size timed.</param>
/// <param name="OnnxRuntimeMs">ONNX Runtime's median per forward pass.</param>
/// <param name="TorchSharpMs">TorchSharp's median, timed in the same alternating rounds; null when no model was given.</param>
public sealed record OnnxLatency(long Batch, double OnnxRuntimeMs, double? TorchSharpMs)
{
    /// <summary>TorchSharp's time over ONNX Runtime's (above 1: ONNX Runtime is faster); null without TorchSharp's.</summary>
    public double? Speedup => TorchSharpMs / OnnxRuntimeMs;
}

/// <summary>
/// Times an <see cref="OnnxRuntimeSession"/> on a seeded random input, alone or against the TorchSharp model it was exported
/// from in alternating rounds (<see cref="AlternatingTimer"/>: drift of a shared machine touches both alike). The input is
/// copied into ONNX Runtime's value once, so only the run is timed; the session's threads and spinning are its own
/// (<see cref="OnnxRuntimeCheck.CreateSessionOptions"/>).
/// </summary>
public static class OnnxRuntimeLatency
{
    /// <summary>Times <paramref name="ort"/> (and <paramref name="model"/>, when given) on inputs of <paramref name="inputShape"/>.</summary>
    /// <param name="ort">The ONNX Runtime session.</param>
    /// <param name="inputShape">Input shape, batch included.</param>
    /// <param name="model">The TorchSharp model to time beside it (eval mode, inference mode), or null.</param>
    /// <param name="rounds">Timed rounds.</param>
    /// <param name="callsPerRound">Forward passes of each per round.</param>
    public static OnnxLatency Measure(OnnxRuntimeSession ort, long[] inputShape, nn.Module<Tensor, Tensor>? model = null, int rounds = 20, int callsPerRound = 3)
    {
        ArgumentNullException.ThrowIfNull(ort);
        ArgumentNullException.ThrowIfNull(inputShape);
        var ms = MedianMs([ort], inputShape, model, rounds, callsPerRound);
        return new OnnxLatency(inputShape[0], ms[0], model is null ? null : ms[1]);
    }

    /// <summary>Median milliseconds per forward pass of each session in <paramref name="sessions"/>, then of
    /// <paramref name="model"/> when given, all timed in alternating rounds on one seeded random input of
    /// <paramref name="inputShape"/> (from a generator of its own: torch's global one is left as it was).</summary>
    /// <param name="sessions">The ONNX Runtime sessions; each must accept <paramref name="inputShape"/>.</param>
    /// <param name="inputShape">Input shape, batch included.</param>
    /// <param name="model">A TorchSharp model to time beside them (eval mode, inference mode), or null.</param>
    /// <param name="rounds">Timed rounds.</param>
    /// <param name="callsPerRound">Forward passes of each per round.</param>
    /// <param name="warmupRounds">Untimed rounds first.</param>
    /// <returns>One median per session, in order, then the model's when given.</returns>
    /// <exception cref="OnnxRuntimeSessionException">A session does not accept inputs of <paramref name="inputShape"/>.</exception>
    public static double[] MedianMs(IReadOnlyList<OnnxRuntimeSession> sessions, long[] inputShape, nn.Module<Tensor, Tensor>? model = null,
        int rounds = 20, int callsPerRound = 3, int warmupRounds = 2)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(inputShape);
        foreach (var ort in sessions)
            if (!ort.Accepts(inputShape))
                throw new OnnxRuntimeSessionException($"'{ort.Path}' takes an input of shape [{string.Join(",", ort.InputDimensions)}], not [{string.Join(",", inputShape)}]");
        using var generator = new Generator(0);
        using var input = randn(inputShape, generator: generator);
        using var ortInput = OrtValue.CreateTensorValueFromMemory(input.data<float>().ToArray(), inputShape);
        var actions = sessions.Select(ort => (Action)(() => ort.Run(ortInput))).ToList();
        EvalModeScope? mode = null;
        Tensor? moved = null;
        if (model is not null)
        {
            mode = new EvalModeScope(model);
            var parameter = model.parameters().FirstOrDefault();
            var x = parameter is null ? input : moved = input.to(parameter.dtype, parameter.device);
            actions.Add(() =>
            {
                using var inference = inference_mode();
                using var pass = NewDisposeScope();
                model.call(x);
            });
        }
        try
        {
            return AlternatingTimer.MedianMs(actions, rounds, warmupRounds, callsPerRound);
        }
        finally
        {
            mode?.Dispose();
            if (!ReferenceEquals(moved, input)) moved?.Dispose();
        }
    }
}
