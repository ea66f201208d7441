using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// Turns a traced forward into ONNX nodes. Each call is emitted by the first rule that applies: the module's own
/// <see cref="IOnnxExportable"/>, a leaf layer rule (<see cref="LayerEmitters"/>), TorchVision's residual blocks, and last
/// a chain of the module's children. A chain is only accepted after checking on the traced values that the forward
/// really was one: the module's input is its first child's input, each child's input is the previous child's output,
/// and the last child's output is the module's output (each link may be a flatten from dim 1, which is then emitted). Anything else (a functional operation, a branch, a discarded
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
        if (LayerEmitters.TryEmit(Builder, call, input, out var layerOutput)) return layerOutput;
        if (ResidualBlocks.Contains(call.TypeName)) return EmitResidual(call, input);
        if (call.Children.Count == 0)
            throw new OnnxExportException(call.Path, call.TypeName,
                "no export rule knows this type and its forward calls no other module; implement IOnnxExportable on it to describe its ONNX nodes");
        var flattens = CheckChain(call, call.Children, call.Input);
        var end = Link(call.Children[^1].Output!, call.Output!);
        if (end == Step.Other)
            throw NotAChain(call, $"its output is not the output of its last module call '{call.Children[^1].Path}'");
        var output = EmitChain(call, call.Children, flattens, input);
        return end == Step.Flatten ? Flatten(call, output) : output;
    }

    private string EmitChain(ModuleCall parent, IReadOnlyList<ModuleCall> calls, bool[] flattenBefore, string input)
    {
        for (int i = 0; i < calls.Count; i++)
        {
            if (flattenBefore[i]) input = Flatten(parent, input);
            input = EmitCall(calls[i], input);
        }
        return input;
    }

    private string Flatten(ModuleCall parent, string input) =>
        Builder.Node("Flatten", $"{(parent.Path.Length == 0 ? "model" : parent.Path)}.flatten", [input], OnnxGraphBuilder.Int("axis", 1));

    private string EmitResidual(ModuleCall call, string input)
    {
        var main = call.Children.Where(c => c.Name != "downsample").ToList();
        var downsample = call.Children.Where(c => c.Name == "downsample").ToList();
        if (main.Count == 0 || downsample.Count > 1)
            throw NotAChain(call, "it does not have the residual block's structure (a chain of layers and at most one downsample)");
        if (CheckChain(call, main, call.Input).Any(f => f))
            throw NotAChain(call, "its main path flattens between layers, which TorchVision's residual blocks do not");
        if (downsample.Count == 1 && !Same(downsample[0].Input, call.Input))
            throw NotAChain(call, "its downsample does not read the block's input");
        using (var scope = NewDisposeScope())
        {
            // The rule's formula, checked against what the block returned.
            var expected = (main[^1].Output! + (downsample.Count == 1 ? downsample[0].Output! : call.Input)).relu();
            if (!expected.allclose(call.Output!, rtol: 1e-5, atol: 1e-6))
                throw NotAChain(call, "its output is not relu(main path + identity) as for TorchVision's residual blocks");
        }
        var mainOut = EmitChain(call, main, new bool[main.Count], input);
        var identity = downsample.Count == 1 ? EmitCall(downsample[0], input) : input;
        var sum = Builder.Node("Add", $"{call.Path}.add", [mainOut, identity]);
        return Builder.Node("Relu", $"{call.Path}.relu", [sum]);
    }

    /// <summary>Checks that <paramref name="calls"/> consumed <paramref name="start"/> and then each other's outputs, each
    /// either as it was or flattened from dim 1 (<c>x.flatten(1)</c> in a forward is functional, the one step recognised);
    /// returns, per call, whether a Flatten goes before it.</summary>
    private static bool[] CheckChain(ModuleCall parent, IReadOnlyList<ModuleCall> calls, Tensor start)
    {
        var flattens = new bool[calls.Count];
        for (int i = 0; i < calls.Count; i++)
        {
            var step = Link(i == 0 ? start : calls[i - 1].Output!, calls[i].Input);
            if (step == Step.Other)
                throw NotAChain(parent, i == 0
                    ? $"the input of its first module call '{calls[0].Path}' is not the module's input"
                    : $"the input of '{calls[i].Path}' is not the output of '{calls[i - 1].Path}'");
            flattens[i] = step == Step.Flatten;
        }
        return flattens;
    }

    private enum Step { Same, Flatten, Other }

    /// <summary>How <paramref name="next"/> was made from <paramref name="previous"/>: unchanged, flattened from dim 1 (same
    /// values in the same order, shape [batch, rest]), or otherwise.</summary>
    private static Step Link(Tensor previous, Tensor next)
    {
        if (Same(previous, next)) return Step.Same;
        if (previous.dim() > 2 && next.dim() == 2 && next.shape[0] == previous.shape[0] && previous.dtype == next.dtype &&
            next.shape[1] == previous.shape.Skip(1).Aggregate(1L, (a, b) => a * b))
        {
            using var scope = NewDisposeScope();
            if (previous.reshape(next.shape).eq(next).all().item<bool>()) return Step.Flatten;
        }
        return Step.Other;
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
