using Onnx;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// Gives ONNX Runtime the QuantizeLinear it needs after a quantized Conv to fuse it into QLinearConv. A quantized layer
/// without an output quantizer computes float; when its output reaches the next quantized layer's QuantizeLinear only
/// through Relu, MaxPool, Flatten or Identity (each the only consumer of its input), the same Q/DQ pair is inserted right
/// after the layer (or after the Relu that directly follows, where ONNX Runtime then drops the Relu). The values do not
/// change: with f = DequantizeLinear∘QuantizeLinear on a grid holding 0, relu(f(y)) = f(relu(y)), max-pooling commutes with
/// the monotone f, flatten moves values only, and f(f(y)) = f(y).
/// </summary>
internal static class QdqRequantizer
{
    private static readonly HashSet<string> Transparent = new(StringComparer.Ordinal) { "Relu", "MaxPool", "Flatten", "Identity" };

    /// <summary>Inserts the pairs into <paramref name="builder"/>'s graph; returns how many.</summary>
    public static int Apply(OnnxGraphBuilder builder)
    {
        var graph = builder.Graph;
        var outputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        int inserted = 0;
        foreach (var value in builder.UnquantizedLayerOutputs)
        {
            var path = new List<NodeProto>();
            QdqGrid? grid = null;
            var current = value;
            while (!outputs.Contains(current))
            {
                var users = graph.Node.Where(n => n.Input.Contains(current)).ToList();
                if (users.Count != 1 || users[0].Input.Count(i => i == current) != 1 || users[0].Input[0] != current) break;
                var next = users[0];
                if (next.OpType == "QuantizeLinear" && builder.QuantizeNodes.TryGetValue(next.Output[0], out var found))
                {
                    grid = found;
                    break;
                }
                if (!Transparent.Contains(next.OpType)) break;
                path.Add(next);
                current = next.Output[0];
            }
            if (grid is null || path.Count == 0) continue;
            // After a Relu whose grid starts at 0 (uint8 zero point 0) ONNX Runtime removes the Relu.
            bool afterRelu = path[0].OpType == "Relu" && grid.ZeroPoint == 0;
            var at = afterRelu ? path[0].Output[0] : value;
            var consumer = afterRelu ? path[1 < path.Count ? 1 : 0] : path[0];
            if (afterRelu && path.Count == 1) continue; // the Relu feeds the QuantizeLinear directly: nothing to add
            var q = builder.UniqueName($"{at}_requant_q");
            var dq = builder.UniqueName($"{at}_requant_dq");
            var qNode = new NodeProto { OpType = "QuantizeLinear", Name = q };
            qNode.Input.AddRange([at, grid.ScaleName, grid.ZeroPointName]);
            qNode.Output.Add(q);
            var dqNode = new NodeProto { OpType = "DequantizeLinear", Name = dq };
            dqNode.Input.AddRange([q, grid.ScaleName, grid.ZeroPointName]);
            dqNode.Output.Add(dq);
            consumer.Input[0] = dq;
            int producer = graph.Node.ToList().FindIndex(n => n.Output.Contains(at));
            graph.Node.Insert(producer + 1, qNode);
            graph.Node.Insert(producer + 2, dqNode);
            inserted++;
        }
        return inserted;
    }
}
