using Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>What an <see cref="IOnnxExportable"/> module gets to describe its nodes: its path, its input's shape as traced,
/// its children's calls, and the graph's nodes and weights.</summary>
public sealed class OnnxEmitContext
{
    private readonly OnnxGraphEmitter emitter;
    private readonly ModuleCall call;
    private readonly HashSet<ModuleCall> emitted = [];

    internal OnnxEmitContext(OnnxGraphEmitter emitter, ModuleCall call)
    {
        this.emitter = emitter;
        this.call = call;
    }

    /// <summary>The module's path in the model ("" for the model itself).</summary>
    public string Path => call.Path;

    /// <summary>The shape of the module's input in the traced forward (the first dimension is the batch, dynamic in the graph).</summary>
    public IReadOnlyList<long> InputShape => call.Input.shape;

    /// <summary>Emits the next call this module's forward made to <paramref name="child"/>, with the exporter's rules, on
    /// <paramref name="input"/>; returns the name of its output.</summary>
    /// <exception cref="OnnxExportException">The traced forward made no further call to <paramref name="child"/>, or the child
    /// cannot be exported.</exception>
    public string Emit(nn.Module<Tensor, Tensor> child, string input)
    {
        ArgumentNullException.ThrowIfNull(child);
        var next = call.Children.FirstOrDefault(c => ReferenceEquals(c.Module, child) && !emitted.Contains(c))
            ?? throw new OnnxExportException(call.Path, call.TypeName,
                $"its EmitOnnx asks for a call of a {child.GetType().Name} that its traced forward did not make (or made fewer times)");
        emitted.Add(next);
        return emitter.EmitCall(next, input);
    }

    /// <summary>Adds a node of the ONNX operator <paramref name="opType"/> (default domain, opset 17) and returns its output's name.</summary>
    /// <param name="opType">The operator, e.g. "Add".</param>
    /// <param name="inputs">The names of its inputs, in the operator's order.</param>
    /// <param name="attributes">Attribute name → value: long or int (INT), float or double (FLOAT), long[] or int[] (INTS),
    /// float[] (FLOATS), string (STRING).</param>
    /// <exception cref="ArgumentException">An attribute value of another type.</exception>
    public string Node(string opType, IReadOnlyList<string> inputs, IReadOnlyDictionary<string, object>? attributes = null)
    {
        var converted = (attributes ?? new Dictionary<string, object>()).Select(a => Attribute(a.Key, a.Value)).ToArray();
        return emitter.Builder.Node(opType, $"{(Path.Length == 0 ? "model" : Path)}.{opType}", inputs, converted);
    }

    /// <summary>Adds <paramref name="value"/> (any float dtype, stored as float32) as a weight named "<see cref="Path"/>.<paramref name="name"/>";
    /// returns the value's name.</summary>
    public string Weight(string name, Tensor value) => emitter.Builder.Initializer(Path.Length == 0 ? name : $"{Path}.{name}", value);

    /// <summary>Adds an int64 constant (e.g. a shape for Reshape) and returns its name.</summary>
    public string Int64Constant(string name, long[] values) =>
        emitter.Builder.Int64Initializer(Path.Length == 0 ? name : $"{Path}.{name}", values);

    private static AttributeProto Attribute(string name, object value) => value switch
    {
        long l => OnnxGraphBuilder.Int(name, l),
        int i => OnnxGraphBuilder.Int(name, i),
        float f => OnnxGraphBuilder.Float(name, f),
        double d => OnnxGraphBuilder.Float(name, (float)d),
        long[] ls => OnnxGraphBuilder.Ints(name, ls),
        int[] ins => OnnxGraphBuilder.Ints(name, ins.Select(i => (long)i)),
        float[] fs => OnnxGraphBuilder.Floats(name, fs),
        string s => new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(s) },
        _ => throw new ArgumentException($"attribute '{name}' has a value of type {value?.GetType().Name ?? "null"}; " +
                                         "use long, int, float, double, long[], int[], float[] or string", nameof(value)),
    };
}
