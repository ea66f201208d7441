using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// TorchVision's Inception-v3 blocks (InceptionA-E): branches that read the block's input, its 3x3 stride-1 average pool
/// (computed functionally inside the forward) or an earlier branch layer's output, and a concatenation along the channels
/// of every output no later layer reads, followed in InceptionB/D by a functional 3x3 stride-2 max pool of the input.
/// Each layer's source and the concatenation are recovered from the traced values and checked before a node is written;
/// anything else is the emitter's "not a chain" error.
/// </summary>
internal static class PooledBranchBlocks
{
    private static readonly HashSet<string> Types = new(StringComparer.Ordinal)
    {
        "TorchSharp.Modules.InceptionV3+InceptionA", "TorchSharp.Modules.InceptionV3+InceptionB",
        "TorchSharp.Modules.InceptionV3+InceptionC", "TorchSharp.Modules.InceptionV3+InceptionD",
        "TorchSharp.Modules.InceptionV3+InceptionE",
    };

    // Where a layer's input comes from: the block's input (-1), its average pool (-2), or the output of layer i (i >= 0).
    private const int BlockInput = -1, PooledInput = -2;

    /// <summary>Whether the rule is for modules of <paramref name="typeName"/>.</summary>
    public static bool Handles(string typeName) => Types.Contains(typeName);

    /// <summary>Emits the block's branches and their concatenation on <paramref name="input"/>; returns the output's name.</summary>
    public static string Emit(OnnxGraphEmitter emitter, ModuleCall call, string input)
    {
        var calls = call.Children;
        if (calls.Count == 0) throw OnnxGraphEmitter.NotAChain(call, "it calls no module");
        var sources = new int[calls.Count];
        var read = new HashSet<int>();
        bool maxPoolBranch;
        using (var scope = NewDisposeScope())
        {
            var pooled = nn.functional.avg_pool2d(call.Input, 3, stride: 1, padding: 1);
            for (int i = 0; i < calls.Count; i++)
            {
                sources[i] = SourceOf(calls, i, call.Input, pooled);
                if (sources[i] == int.MinValue)
                    throw OnnxGraphEmitter.NotAChain(call, $"the input of '{calls[i].Path}' is neither the block's input, its 3x3 " +
                                                           "average pool, nor the output of an earlier module call");
                if (sources[i] >= 0) read.Add(sources[i]);
            }
            var parts = Enumerable.Range(0, calls.Count).Where(i => !read.Contains(i)).Select(i => calls[i].Output!).ToList();
            maxPoolBranch = !Concatenates(parts, call.Output!);
            if (maxPoolBranch)
            {
                parts.Add(nn.functional.max_pool2d(call.Input, 3, stride: 2));
                if (!Concatenates(parts, call.Output!))
                    throw OnnxGraphEmitter.NotAChain(call, "its output is not the concatenation of its branches' last outputs " +
                                                           "(and a 3x3 stride-2 max pool of its input) along the channels");
            }
        }

        var builder = emitter.Builder;
        var outputs = new string[calls.Count];
        string? pooledName = null;
        for (int i = 0; i < calls.Count; i++)
        {
            var source = sources[i] switch
            {
                BlockInput => input,
                PooledInput => pooledName ??= builder.Node("AveragePool", $"{call.Path}.avgpool", [input],
                    OnnxGraphBuilder.Ints("kernel_shape", [3, 3]), OnnxGraphBuilder.Ints("strides", [1, 1]),
                    OnnxGraphBuilder.Ints("pads", [1, 1, 1, 1]), OnnxGraphBuilder.Int("count_include_pad", 1)),
                var j => outputs[j],
            };
            outputs[i] = emitter.EmitCall(calls[i], source);
        }
        var branches = Enumerable.Range(0, calls.Count).Where(i => !read.Contains(i)).Select(i => outputs[i]).ToList();
        if (maxPoolBranch)
            branches.Add(builder.Node("MaxPool", $"{call.Path}.maxpool", [input],
                OnnxGraphBuilder.Ints("kernel_shape", [3, 3]), OnnxGraphBuilder.Ints("strides", [2, 2])));
        return builder.Node("Concat", $"{call.Path}.concat", branches, OnnxGraphBuilder.Int("axis", 1));
    }

    // The block's input and earlier outputs must be equal exactly; the pool is recomputed here, so within float rounding.
    private static int SourceOf(List<ModuleCall> calls, int i, Tensor blockInput, Tensor pooled)
    {
        var input = calls[i].Input;
        if (OnnxGraphEmitter.Same(input, blockInput)) return BlockInput;
        for (int j = i - 1; j >= 0; j--)
            if (OnnxGraphEmitter.Same(input, calls[j].Output!)) return j;
        if (input.shape.SequenceEqual(pooled.shape) && input.allclose(pooled, rtol: 1e-5, atol: 1e-6)) return PooledInput;
        return int.MinValue;
    }

    private static bool Concatenates(List<Tensor> parts, Tensor output)
    {
        if (parts.Any(p => p.dim() != output.dim() || p.shape[0] != output.shape[0] || !p.shape.Skip(2).SequenceEqual(output.shape.Skip(2))))
            return false;
        if (parts.Sum(p => p.shape[1]) != output.shape[1]) return false;
        using var scope = NewDisposeScope();
        return cat(parts.ToArray(), 1).allclose(output, rtol: 1e-5, atol: 1e-6);
    }
}
