using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// Turns a traced forward into ONNX nodes. Each call is emitted by the first rule that applies: the module's own
/// <see cref="IOnnxExportable"/>, a leaf layer rule (<see cref="LayerEmitters"/>), TorchVision's residual blocks, and last
/// a chain of the module's children. A chain is only accepted after checking on the traced values that the forward
/// really was one: the module's input is its first child's input, each child's input is the previous child's output,
/// and the last child's output is the module's output. Anything else (a functional operation, a branch, a discarded
/// output) is an <see cref="OnnxExportException"/> naming the module, never a graph that computes something else.
/// </summary>
internal sealed class OnnxGraphEmitter
{
    // TorchVision's ResNet blocks (private nested types): relu(main chain + identity or downsample(input)).
    private static readonly HashSet<string> ResidualBlocks = new(StringComparer.Ordinal)
    {
        "TorchSharp.Modules.ResNet+BasicBlock",
        "TorchSharp.Modules.ResNet+Bottleneck",
    };

    public OnnxGraphEmitter(OnnxGraphBuilder builder) => Builder = builder;

    /// <summary>Where the nodes go.</summary>
    public OnnxGraphBuilder Builder { get; }

    /// <summary>Emits <paramref name="call"/> on the value <paramref name="input"/>; returns the name of its output.</summary>
    public string EmitCall(ModuleCall call, string input)
    {
        if (call.Module is IOnnxExportable exportable) return exportable.EmitOnnx(new OnnxEmitContext(this, call), input);
        if (LayerEmitters.TryEmit(Builder, call, input, out var output)) return output;
        if (ResidualBlocks.Contains(call.TypeName)) return EmitResidual(call, input);
        if (call.Children.Count == 0)
            throw new OnnxExportException(call.Path, call.TypeName,
                "no export rule knows this type and its forward calls no other module; implement IOnnxExportable on it to describe its ONNX nodes");
        CheckChain(call, call.Children, call.Input);
        if (!Same(call.Children[^1].Output!, call.Output!))
            throw NotAChain(call, $"its output is not the output of its last module call '{call.Children[^1].Path}'");
        return EmitChain(call.Children, input);
    }

    private string EmitChain(IEnumerable<ModuleCall> calls, string input)
    {
        foreach (var child in calls) input = EmitCall(child, input);
        return input;
    }

    private string EmitResidual(ModuleCall call, string input)
    {
        var main = call.Children.Where(c => c.Name != "downsample").ToList();
        var downsample = call.Children.Where(c => c.Name == "downsample").ToList();
        if (main.Count == 0 || downsample.Count > 1)
            throw NotAChain(call, "it does not have the residual block's structure (a chain of layers and at most one downsample)");
        CheckChain(call, main, call.Input);
        if (downsample.Count == 1 && !Same(downsample[0].Input, call.Input))
            throw NotAChain(call, "its downsample does not read the block's input");
        using (var scope = NewDisposeScope())
        {
            // The rule's formula, checked against what the block returned.
            var expected = (main[^1].Output! + (downsample.Count == 1 ? downsample[0].Output! : call.Input)).relu();
            if (!expected.allclose(call.Output!, rtol: 1e-5, atol: 1e-6))
                throw NotAChain(call, "its output is not relu(main path + identity) as for TorchVision's residual blocks");
        }
        var mainOut = EmitChain(main, input);
        var identity = downsample.Count == 1 ? EmitCall(downsample[0], input) : input;
        var sum = Builder.Node("Add", $"{call.Path}.add", [mainOut, identity]);
        return Builder.Node("Relu", $"{call.Path}.relu", [sum]);
    }

    /// <summary>Checks that <paramref name="calls"/> consumed <paramref name="start"/> and then each other's outputs.</summary>
    private static void CheckChain(ModuleCall parent, IReadOnlyList<ModuleCall> calls, Tensor start)
    {
        if (!Same(start, calls[0].Input))
            throw NotAChain(parent, $"the input of its first module call '{calls[0].Path}' is not the module's input");
        for (int i = 1; i < calls.Count; i++)
            if (!Same(calls[i - 1].Output!, calls[i].Input))
                throw NotAChain(parent, $"the input of '{calls[i].Path}' is not the output of '{calls[i - 1].Path}'");
    }

    // Exact equality of shape and values: a functional operation in between changes at least one of them on the random
    // trace input (a reshape the shape, anything else the values).
    private static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var scope = NewDisposeScope();
        return a.eq(b).all().item<bool>();
    }

    private static OnnxExportException NotAChain(ModuleCall call, string what) => new(call.Path, call.TypeName,
        $"its forward does more than call its modules one after another ({what}: a functional operation, a branch or a " +
        "discarded output lies between them); implement IOnnxExportable on it to describe its ONNX nodes");
}
