using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using B = Trainer.Core.Export.Onnx.OnnxGraphBuilder;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// The exporter's rules for TorchSharp's leaf layers, each emitting the layer's eval-mode forward as ONNX opset 17 nodes.
/// A layer setting the rule cannot express (a padding mode, a pooling size that depends on the input) is an
/// <see cref="OnnxExportException"/> naming it, never an approximation.
/// </summary>
internal static class LayerEmitters
{
    /// <summary>Emits <paramref name="call"/> when its module is a layer these rules know; false for any other type.</summary>
    public static bool TryEmit(B builder, ModuleCall call, string input, out string output)
    {
        output = call.Module switch
        {
            Conv2d conv => Conv(builder, call, conv, input),
            BatchNorm2d bn => BatchNorm(builder, call, bn, input),
            Linear linear => Gemm(builder, call, linear, input),
            ReLU => builder.Node("Relu", $"{call.Path}.relu", [input]),
            Hardswish => builder.Node("HardSwish", $"{call.Path}.hardswish", [input]),
            // PyTorch's hardsigmoid is relu6(x + 3) / 6 = clamp(x/6 + 1/2, 0, 1).
            Hardsigmoid => builder.Node("HardSigmoid", $"{call.Path}.hardsigmoid", [input], B.Float("alpha", 1f / 6), B.Float("beta", 0.5f)),
            Sigmoid => builder.Node("Sigmoid", $"{call.Path}.sigmoid", [input]),
            ReLU6 => builder.Node("Clip", $"{call.Path}.relu6", [input, Scalar(builder, "zero", 0), Scalar(builder, "six", 6)]),
            MaxPool2d pool => MaxPool(builder, call, pool, input),
            AdaptiveAvgPool2d pool => AdaptiveAvgPool(builder, call, pool, input),
            Flatten flatten => FlattenNode(builder, call, flatten, input),
            // Identity, and dropout which is the identity in eval mode: no node.
            Identity or Dropout or Dropout2d => input,
            _ => "",
        };
        return output.Length > 0;
    }

    private static string Conv(B builder, ModuleCall call, Conv2d conv, string input)
    {
        var attributes = ConvAttributes(call, conv);
        var inputs = new List<string> { input, builder.Initializer($"{call.Path}.weight", conv.weight) };
        if (conv.bias is { } bias) inputs.Add(builder.Initializer($"{call.Path}.bias", bias));
        return builder.Node("Conv", $"{call.Path}.conv", inputs, attributes);
    }

    /// <summary>The Conv node's attributes for <paramref name="conv"/> (shared with the quantized layer's rule).</summary>
    internal static global::Onnx.AttributeProto[] ConvAttributes(ModuleCall call, Conv2d conv)
    {
        if (conv.transposed) throw Unsupported(call, "transposed convolutions have no rule yet");
        if (conv.padding_mode != PaddingModes.Zeros)
            throw Unsupported(call, $"padding mode {conv.padding_mode} has no rule (only zero padding)");
        var kernel = conv.kernel_size;
        var dilation = conv.dilation ?? [1, 1];
        long[] pads;
        if (conv.padding is { } p) pads = [p[0], p[1], p[0], p[1]];
        else if (conv.padding_type == Padding.Valid) pads = [0, 0, 0, 0];
        else
        {
            // "same": libtorch puts the odd element of the total padding at the end (bottom/right).
            long th = dilation[0] * (kernel[0] - 1), tw = dilation[1] * (kernel[1] - 1);
            pads = [th / 2, tw / 2, th - th / 2, tw - tw / 2];
        }
        return [B.Ints("kernel_shape", kernel), B.Ints("strides", conv.stride ?? [1, 1]), B.Ints("pads", pads),
            B.Ints("dilations", dilation), B.Int("group", conv.groups)];
    }

    private static string BatchNorm(B builder, ModuleCall call, BatchNorm2d bn, string input)
    {
        if (!bn.track_running_stats || bn.running_mean is null || bn.running_var is null)
            throw Unsupported(call, "it keeps no running statistics, so its eval forward normalises with the batch's own statistics");
        using var scope = NewDisposeScope();
        long c = bn.running_mean.shape[0];
        // Without affine parameters the scale is 1 and the shift 0; these tensors are the model's own or kept until written.
        var scale = bn.weight is { } w ? builder.Initializer($"{call.Path}.weight", w) : builder.Initializer($"{call.Path}.weight", ones(c));
        var shift = bn.bias is { } b ? builder.Initializer($"{call.Path}.bias", b) : builder.Initializer($"{call.Path}.bias", zeros(c));
        var mean = builder.Initializer($"{call.Path}.running_mean", bn.running_mean);
        var variance = builder.Initializer($"{call.Path}.running_var", bn.running_var);
        return builder.Node("BatchNormalization", $"{call.Path}.bn", [input, scale, shift, mean, variance], B.Float("epsilon", (float)bn.eps));
    }

    private static string Gemm(B builder, ModuleCall call, Linear linear, string input)
    {
        var weight = builder.Initializer($"{call.Path}.weight", linear.weight);
        var bias = linear.bias is { } b ? builder.Initializer($"{call.Path}.bias", b) : null;
        if (call.Input.dim() == 2)
            return builder.Node("Gemm", $"{call.Path}.gemm", bias is null ? [input, weight] : [input, weight, bias], B.Int("transB", 1));
        // Batched inputs of higher rank: x·Wᵀ (+ b) with a transposed copy of the weight.
        using var scope = NewDisposeScope();
        var transposed = builder.Initializer($"{call.Path}.weight_t", linear.weight.t().contiguous());
        var product = builder.Node("MatMul", $"{call.Path}.matmul", [input, transposed]);
        return bias is null ? product : builder.Node("Add", $"{call.Path}.add", [product, bias]);
    }

    private static string MaxPool(B builder, ModuleCall call, MaxPool2d pool, string input)
    {
        var kernel = Pair(pool.kernel_size);
        var padding = pool.padding is { } p ? Pair(p) : [0, 0];
        return builder.Node("MaxPool", $"{call.Path}.maxpool", [input],
            B.Ints("kernel_shape", kernel), B.Ints("strides", pool.stride is { } s ? Pair(s) : kernel),
            B.Ints("pads", [padding[0], padding[1], padding[0], padding[1]]), B.Ints("dilations", pool.dilation is { } d ? Pair(d) : [1, 1]),
            B.Int("ceil_mode", pool.ceil_mode ? 1 : 0));
    }

    private static string AdaptiveAvgPool(B builder, ModuleCall call, AdaptiveAvgPool2d pool, string input)
    {
        var size = Pair(pool.output_size);
        if (size[0] == 1 && size[1] == 1) return builder.Node("GlobalAveragePool", $"{call.Path}.gap", [input]);
        long h = call.Input.shape[^2], w = call.Input.shape[^1];
        if (h % size[0] == 0 && w % size[1] == 0)
        {
            long[] window = [h / size[0], w / size[1]];
            return builder.Node("AveragePool", $"{call.Path}.avgpool", [input], B.Ints("kernel_shape", window), B.Ints("strides", window));
        }
        // Uneven (or overlapping, when the output is larger) windows, which no ONNX pool computes: PyTorch's windows
        // [floor(i·in/out), ceil((i+1)·in/out)) as two averaging matrices, rows · x · columnsᵀ (MatMul broadcasts over N, C).
        using var scope = NewDisposeScope();
        var columns = builder.Initializer($"{call.Path}.pool_columns", AveragingMatrix(w, size[1]).t().contiguous());
        var rows = builder.Initializer($"{call.Path}.pool_rows", AveragingMatrix(h, size[0]));
        var pooledColumns = builder.Node("MatMul", $"{call.Path}.pool_w", [input, columns]);
        return builder.Node("MatMul", $"{call.Path}.pool_h", [rows, pooledColumns]);
    }

    /// <summary>[outputs, inputs]: row i averages PyTorch's adaptive window i of an axis of <paramref name="inputs"/> entries.</summary>
    private static Tensor AveragingMatrix(long inputs, long outputs)
    {
        var matrix = zeros(outputs, inputs);
        for (long i = 0; i < outputs; i++)
        {
            long start = i * inputs / outputs, end = ((i + 1) * inputs + outputs - 1) / outputs;
            matrix[i, TensorIndex.Slice(start, end)] = tensor(1f / (end - start));
        }
        return matrix;
    }

    private static string FlattenNode(B builder, ModuleCall call, Flatten flatten, string input)
    {
        long rank = call.Input.dim();
        long end = flatten.end_dim < 0 ? flatten.end_dim + rank : flatten.end_dim;
        if (flatten.start_dim != 1 || end != rank - 1)
            throw Unsupported(call, $"only Flatten(1, -1) has a rule (this one flattens dims {flatten.start_dim}..{flatten.end_dim})");
        return builder.Node("Flatten", $"{call.Path}.flatten", [input], B.Int("axis", 1));
    }

    // Shared float32 scalars (Clip's bounds are inputs since opset 11).
    private static string Scalar(B builder, string name, float value) => builder.Constant($"const.{name}", value);

    private static long[] Pair(long[] values) => values.Length == 1 ? [values[0], values[0]] : [values[0], values[1]];

    private static OnnxExportException Unsupported(ModuleCall call, string reason) => new(call.Path, call.TypeName, reason);
}
