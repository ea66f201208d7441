using static TorchSharp.torch;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// Turns a traced forward into ONNX nodes. Each call is emitted by the first rule that applies: the module's own
/// <see cref="IOnnxExportable"/>, a leaf layer rule (<see cref="LayerEmitters"/>), TorchVision's residual blocks, and last
/// a chain of the module's children. A chain is only accepted after checking on the traced values that the forward
/// really was one: the module's input is its first child's input, each child's input is the previous child's output,
/// and the last child's output is the module's output (each link may be a flatten from dim 1, or a global average pool
/// and flatten, which are then emitted). Anything else (a functional operation, a branch, a discarded
/// output) is an <see cref="OnnxExportException"/> naming the module, never a graph that computes something else.
/// </summary>
internal sealed class OnnxGraphEmitter
{
    // TorchVision's residual blocks (private nested types) and how they join their main chain with the identity path.
    private static readonly Dictionary<string, Join> ResidualBlocks = new(StringComparer.Ordinal)
    {
        ["TorchSharp.Modules.ResNet+BasicBlock"] = Join.ReluOfSum,
        ["TorchSharp.Modules.ResNet+Bottleneck"] = Join.ReluOfSum,
        ["TorchSharp.Modules.MobileNetV2+InvertedResidual"] = Join.SumWhenShapesAllow,
        ["TorchSharp.Modules.MobileNetV3+InvertedResidual"] = Join.SumWhenShapesAllow,
        ["TorchSharp.torchvision+SqueezeExcitation"] = Join.Scale,
    };

    // TorchVision blocks whose children are parallel branches on the block's input, concatenated along the channels.
    private static readonly HashSet<string> BranchBlocks = new(StringComparer.Ordinal) { "TorchSharp.Modules.GoogleNet+Inception" };

    /// <summary>relu(main + identity) (ResNet); main + input, or main alone where the block changes the shape (MobileNet);
    /// main · input, the main path computing a per-channel scale (squeeze-and-excitation).</summary>
    private enum Join { ReluOfSum, SumWhenShapesAllow, Scale }

    public OnnxGraphEmitter(OnnxGraphBuilder builder) => Builder = builder;

    /// <summary>Where the nodes go.</summary>
    public OnnxGraphBuilder Builder { get; }

    /// <summary>Emits <paramref name="call"/> on the value <paramref name="input"/>; returns the name of its output.</summary>
    public string EmitCall(ModuleCall call, string input)
    {
        if (call.Module is IOnnxExportable exportable) return exportable.EmitOnnx(new OnnxEmitContext(this, call), input);
        if (call.Module is Quantization.QuantizedLayer quantized) return QuantizedLayerEmitter.Emit(Builder, call, quantized, input);
        if (LayerEmitters.TryEmit(Builder, call, input, out var layerOutput)) return layerOutput;
        if (ResidualBlocks.TryGetValue(call.TypeName, out var join)) return EmitResidual(call, join, input);
        if (BranchBlocks.Contains(call.TypeName)) return EmitBranches(call, input);
        if (PooledBranchBlocks.Handles(call.TypeName)) return PooledBranchBlocks.Emit(this, call, input);
        if (call.Children.Count == 0)
            throw new OnnxExportException(call.Path, call.TypeName,
                "no export rule knows this type and its forward calls no other module; implement IOnnxExportable on it to describe its ONNX nodes");
        var steps = CheckChain(call, call.Children, call.Input);
        var end = Link(call.Children[^1].Output!, call.Output!);
        if (end == Step.Other)
            throw NotAChain(call, $"its output is not the output of its last module call '{call.Children[^1].Path}'");
        return EmitStep(call, end, EmitChain(call, call.Children, steps, input));
    }

    private string EmitChain(ModuleCall parent, IReadOnlyList<ModuleCall> calls, Step[] before, string input)
    {
        for (int i = 0; i < calls.Count; i++) input = EmitCall(calls[i], EmitStep(parent, before[i], input));
        return input;
    }

    private string EmitStep(ModuleCall parent, Step step, string input)
    {
        var hint = parent.Path.Length == 0 ? "model" : parent.Path;
        if (step == Step.PoolAndFlatten) input = Builder.Node("GlobalAveragePool", $"{hint}.gap", [input]);
        return step == Step.Same ? input : Builder.Node("Flatten", $"{hint}.flatten", [input], OnnxGraphBuilder.Int("axis", 1));
    }

    private string EmitResidual(ModuleCall call, Join join, string input)
    {
        var main = call.Children.Where(c => c.Name != "downsample").ToList();
        var downsample = call.Children.Where(c => c.Name == "downsample").ToList();
        if (main.Count == 0 || downsample.Count > 1)
            throw NotAChain(call, "it does not have the residual block's structure (a chain of layers and at most one downsample)");
        if (CheckChain(call, main, call.Input).Any(step => step != Step.Same))
            throw NotAChain(call, "its main path reshapes between layers, which TorchVision's residual blocks do not");
        if (downsample.Count == 1 && !Same(downsample[0].Input, call.Input))
            throw NotAChain(call, "its downsample does not read the block's input");
        var mainOut = EmitChain(call, main, new Step[main.Count], input);
        if (join == Join.SumWhenShapesAllow && downsample.Count == 0 && Same(main[^1].Output!, call.Output!)) return mainOut;
        if (join == Join.Scale && downsample.Count > 0) throw NotAChain(call, "a squeeze-and-excitation block has no downsample");
        using (var scope = NewDisposeScope())
        {
            // The rule's formula, checked against what the block returned.
            var other = downsample.Count == 1 ? downsample[0].Output! : call.Input;
            var expected = join == Join.Scale ? main[^1].Output! * other : main[^1].Output! + other;
            if (join == Join.ReluOfSum) expected = expected.relu();
            if (!expected.allclose(call.Output!, rtol: 1e-5, atol: 1e-6))
                throw NotAChain(call, join switch
                {
                    Join.ReluOfSum => "its output is not relu(main path + identity) as for TorchVision's ResNet blocks",
                    Join.Scale => "its output is not its main path's scale times its input as for squeeze-and-excitation blocks",
                    _ => "its output is neither its main path nor main path + input as for TorchVision's inverted residual blocks",
                });
        }
        var identity = downsample.Count == 1 ? EmitCall(downsample[0], input) : input;
        if (join == Join.Scale) return Builder.Node("Mul", $"{call.Path}.scale", [mainOut, identity]);
        var sum = Builder.Node("Add", $"{call.Path}.add", [mainOut, identity]);
        return join == Join.ReluOfSum ? Builder.Node("Relu", $"{call.Path}.relu", [sum]) : sum;
    }

    private string EmitBranches(ModuleCall call, string input)
    {
        if (call.Children.Count == 0 || call.Children.Any(c => !Same(c.Input, call.Input)))
            throw NotAChain(call, "not all its module calls read the block's input, as the branches of TorchVision's Inception blocks do");
        using (var scope = NewDisposeScope())
        {
            if (!Same(cat(call.Children.Select(c => c.Output!).ToArray(), 1), call.Output!))
                throw NotAChain(call, "its output is not its branches' outputs concatenated along the channels");
        }
        var branches = call.Children.Select(c => EmitCall(c, input)).ToList();
        return Builder.Node("Concat", $"{call.Path}.concat", branches, OnnxGraphBuilder.Int("axis", 1));
    }

    /// <summary>Checks that <paramref name="calls"/> consumed <paramref name="start"/> and then each other's outputs, each
    /// as it was, flattened from dim 1, or averaged over its spatial dims and flattened (<c>x.flatten(1)</c> and
    /// <c>adaptive_avg_pool2d(x, 1).flatten(1)</c> in a forward are functional: the steps recognised); returns, per call, the
    /// step before it.</summary>
    private static Step[] CheckChain(ModuleCall parent, IReadOnlyList<ModuleCall> calls, Tensor start)
    {
        var steps = new Step[calls.Count];
        for (int i = 0; i < calls.Count; i++)
        {
            steps[i] = Link(i == 0 ? start : calls[i - 1].Output!, calls[i].Input);
            if (steps[i] == Step.Other)
                throw NotAChain(parent, i == 0
                    ? $"the input of its first module call '{calls[0].Path}' is not the module's input"
                    : $"the input of '{calls[i].Path}' is not the output of '{calls[i - 1].Path}'");
        }
        return steps;
    }

    private enum Step { Same, Flatten, PoolAndFlatten, Other }

    /// <summary>How <paramref name="next"/> was made from <paramref name="previous"/>: unchanged, flattened from dim 1 (same
    /// values in the same order, shape [batch, rest]), averaged over the spatial dims of an NCHW tensor and flattened
    /// (equal to the mean within float rounding), or otherwise.</summary>
    private static Step Link(Tensor previous, Tensor next)
    {
        if (Same(previous, next)) return Step.Same;
        if (previous.dim() <= 2 || next.dim() != 2 || next.shape[0] != previous.shape[0] || previous.dtype != next.dtype) return Step.Other;
        using var scope = NewDisposeScope();
        if (next.shape[1] == previous.shape.Skip(1).Aggregate(1L, (a, b) => a * b) && previous.reshape(next.shape).eq(next).all().item<bool>())
            return Step.Flatten;
        if (previous.dim() == 4 && next.shape[1] == previous.shape[1] &&
            previous.mean([2, 3]).allclose(next, rtol: 1e-5, atol: 1e-6))
            return Step.PoolAndFlatten;
        return Step.Other;
    }

    // Exact equality of shape and values: a functional operation in between changes at least one of them on the random
    // trace input (a reshape the shape, anything else the values).
    internal static bool Same(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using var scope = NewDisposeScope();
        return a.eq(b).all().item<bool>();
    }

    internal static OnnxExportException NotAChain(ModuleCall call, string what) => new(call.Path, call.TypeName,
        $"its forward does more than call its modules one after another ({what}: a functional operation, a branch or a " +
        "discarded output lies between them); implement IOnnxExportable on it to describe its ONNX nodes");
}
