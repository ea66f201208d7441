using Onnx;

namespace Trainer.Tests.Shared;

/// <summary>ONNX files for the error paths, written with the same protobuf types the exporter uses.</summary>
internal static class OnnxFiles
{
    /// <summary>A well-formed model with an input "input" and an output "output" (float, [batch, 4]) whose one node is an
    /// operator ONNX Runtime does not know, so loading it fails with ONNX Runtime's "No Op registered for NoSuchOperator".</summary>
    public static string WriteRefused(string path)
    {
        var graph = new GraphProto { Name = "refused" };
        var node = new NodeProto { OpType = "NoSuchOperator", Name = "n" };
        node.Input.Add("input");
        node.Output.Add("output");
        graph.Node.Add(node);
        graph.Input.Add(Float("input"));
        graph.Output.Add(Float("output"));
        var proto = new ModelProto { IrVersion = 8, Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        using (var stream = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(proto, stream);
        return path;
    }

    private static ValueInfoProto Float(string name)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 4 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }
}
