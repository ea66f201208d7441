using Microsoft.ML.OnnxRuntime;
using Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>An ONNX file that ONNX Runtime refused to load or to run, or whose input does not fit; the message carries
/// ONNX Runtime's own words or the shapes. The file is left where it is (<see cref="OnnxRuntimeCheck"/> moves an export it
/// rejects aside; a file given to run is the user's).</summary>
public sealed class OnnxRuntimeSessionException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// An exported ONNX file (one float input "input", one float output "output", as <see cref="OnnxExporter"/> writes) loaded
/// into an ONNX Runtime session with <see cref="OnnxRuntimeCheck.CreateSessionOptions"/> (the given threads, spinning off),
/// run on TorchSharp tensors. The one place ONNX Runtime sessions are made: the export check, the latency runners and
/// `trainer predict` all load models through it.
/// </summary>
public sealed class OnnxRuntimeSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();

    private OnnxRuntimeSession(string path, InferenceSession session, long opset)
    {
        (Path, _session, Opset) = (path, session, opset);
        InputDimensions = [.. session.InputMetadata[OnnxExporter.InputName].Dimensions.Select(d => (long)d)];
    }

    /// <summary>The file's full path (or the name an in-memory model was loaded under).</summary>
    public string Path { get; }

    /// <summary>The opset of the default domain the file imports.</summary>
    public long Opset { get; }

    /// <summary>The input's dimensions as the file declares them; -1 for a dynamic one (the batch).</summary>
    public long[] InputDimensions { get; }

    /// <summary>Loads <paramref name="path"/> into ONNX Runtime with <paramref name="threads"/> intra-op threads.</summary>
    /// <exception cref="FileNotFoundException">There is no file at <paramref name="path"/>.</exception>
    /// <exception cref="OnnxRuntimeSessionException">The file is not ONNX, ONNX Runtime refuses it (its message is quoted), or its
    /// input and output are not one float tensor each named "input" and "output".</exception>
    public static OnnxRuntimeSession Open(string path, int threads = 1)
    {
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"There is no ONNX file at '{full}'.", full);
        long opset;
        try
        {
            opset = OnnxRuntimeCheck.ReadOpset(full);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new OnnxRuntimeSessionException($"'{full}' is not an ONNX model (protobuf): {e.Message}", e);
        }
        return Create(full, opset, options => new InferenceSession(full, options), threads);
    }

    /// <summary>Loads an ONNX model held in memory (e.g. <see cref="Latency.OnnxRuntimeRunner.ExportBytes"/>) into ONNX Runtime.</summary>
    /// <param name="model">The model's bytes.</param>
    /// <param name="threads">Intra-op threads.</param>
    /// <param name="name">What the messages call it (it has no file).</param>
    /// <exception cref="OnnxRuntimeSessionException">The bytes are not ONNX, ONNX Runtime refuses them, or the input and output are
    /// not one float tensor each named "input" and "output".</exception>
    public static OnnxRuntimeSession Load(byte[] model, int threads = 1, string name = "the in-memory ONNX model")
    {
        ArgumentNullException.ThrowIfNull(model);
        long opset;
        try
        {
            opset = OnnxRuntimeCheck.ReadOpset(ModelProto.Parser.ParseFrom(model));
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new OnnxRuntimeSessionException($"{name} is not an ONNX model (protobuf): {e.Message}", e);
        }
        return Create(name, opset, options => new InferenceSession(model, options), threads);
    }

    private static OnnxRuntimeSession Create(string full, long opset, Func<SessionOptions, InferenceSession> load, int threads)
    {
        InferenceSession session;
        using (var options = OnnxRuntimeCheck.CreateSessionOptions(threads))
        {
            try
            {
                session = load(options);
            }
            catch (OnnxRuntimeException e)
            {
                throw new OnnxRuntimeSessionException($"ONNX Runtime refused '{full}': {e.Message}", e);
            }
        }
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        if (!inputs.TryGetValue(OnnxExporter.InputName, out var input) || inputs.Count != 1 || !outputs.ContainsKey(OnnxExporter.OutputName)
            || input.ElementType != typeof(float) || outputs[OnnxExporter.OutputName].ElementType != typeof(float))
        {
            var message = $"'{full}' has inputs [{Describe(inputs)}] and outputs [{Describe(outputs)}], not one float '{OnnxExporter.InputName}' " +
                          $"and a float '{OnnxExporter.OutputName}' as trainer's ONNX export writes";
            session.Dispose();
            throw new OnnxRuntimeSessionException(message);
        }
        return new OnnxRuntimeSession(full, session, opset);
    }

    private static string Describe(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        string.Join(", ", metadata.Select(kv => $"{kv.Key}: {kv.Value.ElementType.Name} [{string.Join(",", kv.Value.Dimensions)}]"));

    /// <summary>Whether an input of <paramref name="shape"/> (batch included) fits the declared input: same rank, and every
    /// fixed dimension equal.</summary>
    public bool Accepts(IReadOnlyList<long> shape) =>
        shape.Count == InputDimensions.Length && InputDimensions.Zip(shape).All(p => p.First < 0 || p.First == p.Second);

    /// <summary>Runs the model on <paramref name="input"/> (converted to contiguous float32 on the CPU); returns the output as a
    /// new float32 tensor in the current dispose scope.</summary>
    /// <exception cref="OnnxRuntimeSessionException">The input does not fit the declared shape, or ONNX Runtime failed to run.</exception>
    public Tensor Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!Accepts(input.shape))
            throw new OnnxRuntimeSessionException($"'{Path}' takes an input of shape [{string.Join(",", InputDimensions.Select(d => d < 0 ? "batch" : d.ToString()))}]; " +
                                                $"the data's is [{string.Join(",", input.shape)}]");
        float[] values;
        long[] shape;
        using (var scope = NewDisposeScope())
        {
            var x = input.detach().to_type(ScalarType.Float32).cpu().contiguous();
            (values, shape) = (x.data<float>().ToArray(), x.shape);
        }
        using var ortInput = OrtValue.CreateTensorValueFromMemory(values, shape);
        IDisposableReadOnlyCollection<OrtValue> outputs;
        try
        {
            outputs = _session.Run(_runOptions, [OnnxExporter.InputName], [ortInput], [OnnxExporter.OutputName]);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OnnxRuntimeSessionException($"ONNX Runtime failed to run '{Path}' on an input of shape [{string.Join(",", shape)}]: {e.Message}", e);
        }
        using (outputs)
        {
            var output = outputs[0];
            return tensor(output.GetTensorDataAsSpan<float>().ToArray(), output.GetTensorTypeAndShape().Shape);
        }
    }

    /// <summary>Runs the model on an input already held as ONNX Runtime's value (for timing: no copy from TorchSharp).</summary>
    internal void Run(OrtValue input)
    {
        using var outputs = _session.Run(_runOptions, [OnnxExporter.InputName], [input], [OnnxExporter.OutputName]);
    }

    /// <summary>Runs the model on an ONNX Runtime value and returns the output's values and shape.</summary>
    internal (float[] Values, long[] Shape) RunAndRead(OrtValue input)
    {
        using var outputs = _session.Run(_runOptions, [OnnxExporter.InputName], [input], [OnnxExporter.OutputName]);
        var value = outputs[0];
        return (value.GetTensorDataAsSpan<float>().ToArray(), value.GetTensorTypeAndShape().Shape);
    }

    /// <summary>Releases the session.</summary>
    public void Dispose()
    {
        _runOptions.Dispose();
        _session.Dispose();
    }
}
