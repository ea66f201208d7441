using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>Collects the nodes and weights of one ONNX graph (OnnxSharp's protobuf types) and hands out unique value names.</summary>
internal sealed class OnnxGraphBuilder
{
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IntPtr> initializers = new(StringComparer.Ordinal);
    private int counter;

    /// <summary>The graph being built.</summary>
    public GraphProto Graph { get; } = new() { Name = "main" };

    /// <summary>A value name not used before, derived from <paramref name="hint"/>.</summary>
    public string UniqueName(string hint)
    {
        var name = hint;
        while (!names.Add(name)) name = $"{hint}_{++counter}";
        return name;
    }

    /// <summary>Adds <paramref name="tensor"/> as a float32 initializer called <paramref name="name"/> and returns the name it got:
    /// the same tensor under the same name is stored once (a module called twice shares its weights); another tensor asking
    /// for a name already taken gets a unique one.</summary>
    public string Initializer(string name, Tensor tensor)
    {
        if (initializers.TryGetValue(name, out var handle) && handle == tensor.Handle) return name;
        name = UniqueName(name);
        initializers[name] = tensor.Handle;
        using var scope = NewDisposeScope();
        var values = tensor.detach().to_type(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        proto.Dims.AddRange(tensor.shape);
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>A float32 scalar initializer called <paramref name="name"/>, added once and shared by every node using it.</summary>
    public string Constant(string name, float value)
    {
        if (initializers.ContainsKey(name)) return name;
        names.Add(name);
        initializers[name] = IntPtr.Zero;
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.FloatData.Add(value);
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>Adds an int64 constant initializer (shapes for Reshape) and returns its name.</summary>
    public string Int64Initializer(string name, long[] values)
    {
        name = UniqueName(name);
        initializers[name] = IntPtr.Zero;
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.Int64Data.AddRange(values);
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>Adds an initializer of ONNX element type <paramref name="dataType"/> holding <paramref name="rawData"/>
    /// (little-endian, row-major) under a unique name derived from <paramref name="name"/>; returns that name.</summary>
    public string TypedInitializer(string name, TensorProto.Types.DataType dataType, IReadOnlyList<long> dims, byte[] rawData)
    {
        name = UniqueName(name);
        initializers[name] = IntPtr.Zero;
        var proto = new TensorProto { Name = name, DataType = (int)dataType, RawData = ByteString.CopyFrom(rawData) };
        proto.Dims.AddRange(dims);
        Graph.Initializer.Add(proto);
        return name;
    }

    /// <summary>Notes the export adds to its result (e.g. a low-bit grid stored as int8).</summary>
    public List<string> Notes { get; } = [];

    /// <summary>The activation grids of the QuantizeLinear nodes written, by the node's output name.</summary>
    public Dictionary<string, QdqGrid> QuantizeNodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Float outputs of quantized layers that no quantizer of their own rounds; the QDQ pass may requantize them.</summary>
    public List<string> UnquantizedLayerOutputs { get; } = [];

    /// <summary>Adds a node of <paramref name="opType"/> with one output named after <paramref name="outputHint"/>; returns the output's name.</summary>
    public string Node(string opType, string outputHint, IEnumerable<string> inputs, params AttributeProto[] attributes)
    {
        var output = UniqueName(outputHint);
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        Graph.Node.Add(node);
        return output;
    }

    /// <summary>An integer attribute.</summary>
    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    /// <summary>A float attribute.</summary>
    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>An integer-list attribute.</summary>
    public static AttributeProto Ints(string name, IEnumerable<long> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>A float-list attribute.</summary>
    public static AttributeProto Floats(string name, IEnumerable<float> values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    /// <summary>A float32 tensor value with a symbolic first (batch) dimension and fixed other dimensions.</summary>
    public static ValueInfoProto BatchedFloat(string name, IReadOnlyList<long> shape, string batchAxis)
    {
        var tensorShape = new TensorShapeProto();
        tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batchAxis });
        foreach (var d in shape.Skip(1)) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } },
        };
    }
}
