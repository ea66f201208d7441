using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using static TorchSharp.torch;
using B = Trainer.Core.Export.Onnx.OnnxGraphBuilder;
using DataType = Onnx.TensorProto.Types.DataType;

namespace Trainer.Core.Export.Onnx;

/// <summary>The grid of one QuantizeLinear node (uint8): its scale and stored zero point, and their initializers' names.</summary>
internal sealed record QdqGrid(float Scale, int ZeroPoint, string ScaleName, string ZeroPointName);

/// <summary>
/// The exporter's rule for <see cref="QuantizedLayer"/>: ONNX QDQ form. The input (and output) quantizer becomes a
/// QuantizeLinear/DequantizeLinear pair with its per-tensor scale and zero point, stored as uint8 (a signed grid shifted by
/// 128); the weight is an int8 initializer holding the project's integer codes with per-channel scales
/// (DequantizeLinear axis 0); the bias, when the input is quantized, is int32 at scale s_in·s_w as ONNX Runtime's
/// integer kernels require. Low-bit grids (1-7 bits) are the same integers in int8 (a Clip keeps activations on the
/// narrower grid) and leave a note; forms with no QDQ equivalent are an <see cref="OnnxExportException"/>.
/// </summary>
internal static class QuantizedLayerEmitter
{
    public static string Emit(B builder, ModuleCall call, QuantizedLayer layer, string input)
    {
        QdqGrid? inputGrid = null;
        if (layer.InputQuantizer is { } qi) input = Activation(builder, call, layer, qi, input, out inputGrid);
        var weight = WeightCodes(builder, call, layer);
        var bias = Bias(builder, call, layer, weight, inputGrid);
        string output;
        if (layer.Inner is Conv2d conv)
        {
            var attributes = LayerEmitters.ConvAttributes(call, conv);
            var inputs = new List<string> { input, WeightValue(builder, call, layer, weight, transposed: false) };
            if (bias is not null) inputs.Add(bias);
            output = builder.Node("Conv", $"{call.Path}.conv", inputs, attributes);
        }
        else if (call.Input.dim() == 2)
        {
            var w = WeightValue(builder, call, layer, weight, transposed: false);
            output = builder.Node("Gemm", $"{call.Path}.gemm", bias is null ? [input, w] : [input, w, bias], B.Int("transB", 1));
        }
        else
        {
            var product = builder.Node("MatMul", $"{call.Path}.matmul", [input, WeightValue(builder, call, layer, weight, transposed: true)]);
            output = bias is null ? product : builder.Node("Add", $"{call.Path}.add", [product, bias]);
        }
        if (layer.OutputQuantizer is { } qo) return Activation(builder, call, layer, qo, output, out _);
        if (inputGrid is not null && weight is not null) builder.UnquantizedLayerOutputs.Add(output);
        return output;
    }

    /// <summary>Integer weight levels (int8), per-channel (or one) scales and zero points, as the project stores them.</summary>
    private sealed record WeightLevels(sbyte[] Levels, long[] Shape, float[] Scales, sbyte[] ZeroPoints);

    private static WeightLevels? WeightCodes(B builder, ModuleCall call, QuantizedLayer layer)
    {
        if (layer.WeightQuantizer is not { } q) return null;
        EncodedWeight encoded;
        try
        {
            encoded = layer.StoredWeight ?? EncodedWeight.Encode(layer);
        }
        catch (ArgumentException e)
        {
            throw Refuse(call, q, e.Message);
        }
        var codes = encoded.Codes;
        sbyte[] levels, zps;
        float[] scales;
        switch (q.Spec.Method)
        {
            case QuantMethod.DoReFa:
                // value = 2·code/n − 1 = (2·code − n)/n: the integers −n..n in steps of 2 at scale 1/n (n = 2^k − 1 ≤ 127).
                int n = (1 << encoded.Bits) - 1;
                if (n > 127)
                    throw Refuse(call, q, $"its {encoded.Bits}-bit levels (2·code − {n})/{n} span −{n}..{n}, more than int8 holds; use at most 7 bits");
                levels = codes.Select(c => (sbyte)(2 * c - n)).ToArray();
                scales = [1f / n];
                zps = [0];
                Note(builder, call, q, $"levels (2·code − {n})/{n} stored as int8 2·code − {n} at scale 1/{n}");
                break;
            case QuantMethod.Binary:
                // ±α per channel: int8 ±1 at scale α (α·1 is exact in float).
                levels = codes.Select(c => (sbyte)(2 * c - 1)).ToArray();
                scales = encoded.Scales.Select(s => s / 2).ToArray();
                zps = new sbyte[scales.Length];
                Note(builder, call, q, "±α per output channel stored as int8 ±1 at scale α");
                break;
            default:
                // Naive and LSQ: value = (code − zero)·scale with code = level − qmin and zero = zp − qmin.
                int qmin = q.Params.QMin;
                if (encoded.Zeros.Any(z => z != MathF.Round(z)))
                    throw Refuse(call, q, "its zero point is not an integer, which DequantizeLinear needs");
                var levelInts = codes.Select(c => c + qmin).ToArray();
                var zpInts = encoded.Zeros.Select(z => (int)z + qmin).ToArray();
                if (levelInts.Concat(zpInts).Any(v => v is < sbyte.MinValue or > sbyte.MaxValue))
                    throw Refuse(call, q, $"its grid [{q.Params.QMin}, {q.Params.QMax}] does not fit int8 (unsigned 8-bit weights); quantize weights on a signed grid");
                levels = levelInts.Select(v => (sbyte)v).ToArray();
                zps = zpInts.Select(v => (sbyte)v).ToArray();
                scales = encoded.Scales;
                if (encoded.Bits < 8) Note(builder, call, q, $"{encoded.Bits}-bit levels [{q.Params.QMin}, {q.Params.QMax}] stored as int8");
                break;
        }
        if (zps.Distinct().Count() > 1)
            throw Refuse(call, q, "its output channels have different zero points; ONNX Runtime's integer kernels (QLinearConv, QGemm) take one " +
                                  "weight zero point per layer, so quantize weights with scheme=symmetric");
        var result = new WeightLevels(levels, encoded.Shape, scales, zps);
        CheckAgainstModel(call, layer, q, result);
        return result;
    }

    // The graph must compute the model's weight: the decoded int8 levels against what the layer's forward uses.
    private static void CheckAgainstModel(ModuleCall call, QuantizedLayer layer, TensorQuantizer q, WeightLevels w)
    {
        using var scope = NewDisposeScope();
        var levels = tensor(w.Levels.Select(v => (float)v).ToArray(), w.Shape);
        var scale = w.Scales.Length == 1 ? tensor(w.Scales[0]) : Ste.AlongAxis(tensor(w.Scales), w.Shape.Length, 0);
        var zp = w.ZeroPoints.Length == 1 ? tensor((float)w.ZeroPoints[0]) : Ste.AlongAxis(tensor(w.ZeroPoints.Select(v => (float)v).ToArray()), w.Shape.Length, 0);
        var decoded = (levels - zp) * scale;
        var effective = layer.EffectiveWeight().cpu();
        double diff = (decoded - effective).abs().max().item<float>();
        double bound = 1e-6 * Math.Max(1e-12, effective.abs().max().item<float>());
        if (diff > bound)
            throw Refuse(call, q, $"its int8 levels decode to a weight {diff:G3} away from the one its forward uses");
    }

    private static string WeightValue(B builder, ModuleCall call, QuantizedLayer layer, WeightLevels? w, bool transposed)
    {
        if (w is null)
        {
            using var scope = NewDisposeScope();
            var floatWeight = transposed ? layer.Weight.t().contiguous() : layer.Weight;
            return builder.Initializer($"{call.Path}.weight{(transposed ? "_t" : "")}", floatWeight);
        }
        var levels = w.Levels;
        var shape = w.Shape;
        if (transposed)
        {
            // MatMul takes Wᵀ [in, out]; the per-channel axis becomes 1.
            long rows = shape[0], cols = shape[1];
            levels = new sbyte[levels.Length];
            for (long r = 0; r < rows; r++)
                for (long c = 0; c < cols; c++) levels[c * rows + r] = w.Levels[r * cols + c];
            shape = [cols, rows];
        }
        var perChannel = w.Scales.Length > 1;
        var q = builder.TypedInitializer($"{call.Path}.weight_int8", DataType.Int8, shape, (byte[])(Array)levels);
        var scale = FloatInitializer(builder, $"{call.Path}.weight_scale", w.Scales, perChannel);
        var zp = builder.TypedInitializer($"{call.Path}.weight_zero_point", DataType.Int8, perChannel ? [w.ZeroPoints.Length] : [],
            perChannel ? (byte[])(Array)w.ZeroPoints : [(byte)w.ZeroPoints[0]]);
        return perChannel
            ? builder.Node("DequantizeLinear", $"{call.Path}.weight", [q, scale, zp], B.Int("axis", transposed ? 1 : 0))
            : builder.Node("DequantizeLinear", $"{call.Path}.weight", [q, scale, zp]);
    }

    /// <summary>The bias: int32 at scale s_in·s_w[c] when input and weight are 8-bit grids (the form ONNX Runtime fuses;
    /// rounding moves it by at most s_in·s_w/2, a fraction of one input step times one weight step), else float.</summary>
    private static string? Bias(B builder, ModuleCall call, QuantizedLayer layer, WeightLevels? w, QdqGrid? input)
    {
        if (layer.Bias is not { } bias) return null;
        if (w is null || input is null) return builder.Initializer($"{call.Path}.bias", bias);
        if (layer.InputQuantizer!.Params.Bits < 8 || layer.WeightQuantizer!.Params.Bits < 8)
        {
            // Low-bit steps make s_in·s_w coarse (4-bit: of the order of 0.05), so rounding the bias to it would change the
            // outputs; the float bias keeps the model's values, and ONNX Runtime then runs the layer in float on DQ'd values.
            Note(builder, call, layer.WeightQuantizer!, "grid below 8 bits: the layer keeps a float bias (s_in·s_w too coarse " +
                                                        "for int32), so ONNX Runtime runs it in float on dequantized values, not as an integer kernel");
            return builder.Initializer($"{call.Path}.bias", bias);
        }
        using var scope = NewDisposeScope();
        var values = bias.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        var scales = values.Select((_, c) => input.Scale * w.Scales[w.Scales.Length == 1 ? 0 : c]).ToArray();
        var quantized = new int[values.Length];
        for (int c = 0; c < values.Length; c++)
        {
            double v = Math.Round(values[c] / (double)scales[c], MidpointRounding.ToEven);
            if (Math.Abs(v) > int.MaxValue) return builder.Initializer($"{call.Path}.bias", bias);
            quantized[c] = (int)v;
        }
        var data = new byte[quantized.Length * 4];
        Buffer.BlockCopy(quantized, 0, data, 0, data.Length);
        var q = builder.TypedInitializer($"{call.Path}.bias_int32", DataType.Int32, [quantized.Length], data);
        var scale = FloatInitializer(builder, $"{call.Path}.bias_scale", w.Scales.Length > 1 ? scales : [scales[0]], perChannel: w.Scales.Length > 1);
        return w.Scales.Length > 1
            ? builder.Node("DequantizeLinear", $"{call.Path}.bias", [q, scale], B.Int("axis", 0))
            : builder.Node("DequantizeLinear", $"{call.Path}.bias", [q, scale]);
    }

    /// <summary>Emits the QDQ pair of an input or output quantizer on <paramref name="value"/>.</summary>
    private static string Activation(B builder, ModuleCall call, QuantizedLayer layer, TensorQuantizer q, string value, out QdqGrid? grid)
    {
        var role = q.Role.ToString().ToLowerInvariant();
        var p = q.Params;
        if (p.Bits > 8)
            throw Refuse(call, q, $"{p.Bits}-bit activations need 16-bit QuantizeLinear (opset 21), beyond this opset-17 export");
        if (p.Granularity.PerChannel) throw Refuse(call, q, "a per-channel activation grid has no rule (activations are per tensor)");
        float scale;
        int zp;
        float? low = null, high = null;
        switch (q.Spec.Method)
        {
            case QuantMethod.MinMax or QuantMethod.MovingAverage or QuantMethod.Percentile:
                if (!q.IsReady) throw Refuse(call, q, $"its {role} range was never measured; calibrate or train the model before exporting");
                scale = q.Scale!.item<float>();
                zp = (int)q.ZeroPoint!.item<long>();
                break;
            case QuantMethod.Lsq:
                if (!q.IsReady) throw Refuse(call, q, $"its {role} step was never initialised; train the model before exporting");
                using (var scope = NewDisposeScope())
                {
                    // The step as the forward scales it (a last-bit change from the gradient scaling, at the traced batch size).
                    scale = Ste.GradScale(q.Step!.detach(), LsqQuantizer.GradScaleFactor(call.Input.numel(), p.QMax)).item<float>();
                }
                zp = 0;
                break;
            case QuantMethod.DoReFa:
                // quantize_k(clamp(x, 0, 1)) = round(x·n)/n: uint8 at scale 1/n after Clip(0, 1).
                int n = (1 << p.Bits) - 1;
                scale = 1f / n;
                zp = 0;
                low = 0f;
                high = 1f;
                Note(builder, call, q, $"quantize_k(clamp(x, 0, 1)) exported as Clip(0, 1) + uint8 QDQ at scale 1/{n}");
                break;
            case QuantMethod.Binary:
                throw Refuse(call, q, $"binary {role}s take the values −1 and +1 and never 0, but every QuantizeLinear/DequantizeLinear grid " +
                                      "holds 0 at its integer zero point, so no QDQ pair computes sign(x); keep this tensor float " +
                                      "(quantize weights only) to export the layer");
            default:
                throw Refuse(call, q, $"its {role} range is measured from each tensor at run time (dynamic quantization), which a fixed " +
                                      "QuantizeLinear scale cannot express");
        }
        // Stored as uint8 whatever the grid's sign: a signed grid shifted by 128 (level + 128, zero point + 128) holds the same
        // values, and ONNX Runtime's x86 kernels fuse QDQ only with uint8 activations (QDQIsInt8Allowed() is false off ARM).
        int offset = p.Signed ? 128 : 0;
        int qmin = p.QMin + offset, qmax = p.QMax + offset, stored = zp + offset;
        if (stored is < 0 or > 255) throw Refuse(call, q, $"its zero point {zp} lies outside its grid [{p.QMin}, {p.QMax}]");
        if (low is null && (qmin > 0 || qmax < 255))
        {
            // A grid narrower than the storage type: clip to its ends first (round·clamp = clamp·round for integer ends).
            low = (qmin - stored) * scale;
            high = (qmax - stored) * scale;
            Note(builder, call, q, $"grid [{p.QMin}, {p.QMax}] stored as uint8 [{qmin}, {qmax}] after a Clip to its ends");
        }
        if (low is float lo && high is float hi)
            value = builder.Node("Clip", $"{call.Path}.{role}_clip", [value,
                builder.Constant($"{call.Path}.{role}_clip_min", lo), builder.Constant($"{call.Path}.{role}_clip_max", hi)]);
        var scaleName = FloatInitializer(builder, $"{call.Path}.{role}_scale", [scale], perChannel: false);
        var zpName = builder.TypedInitializer($"{call.Path}.{role}_zero_point", DataType.Uint8, [], [(byte)stored]);
        var quantized = builder.Node("QuantizeLinear", $"{call.Path}.{role}_q", [value, scaleName, zpName]);
        grid = new QdqGrid(scale, stored, scaleName, zpName);
        if (low is null) builder.QuantizeNodes[quantized] = grid;
        return builder.Node("DequantizeLinear", $"{call.Path}.{role}_dq", [quantized, scaleName, zpName]);
    }

    private static string FloatInitializer(B builder, string name, float[] values, bool perChannel)
    {
        var data = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, data, 0, data.Length);
        return builder.TypedInitializer(name, DataType.Float, perChannel ? [values.Length] : [], data);
    }

    private static void Note(B builder, ModuleCall call, TensorQuantizer q, string what) =>
        builder.Notes.Add($"{call.Path}: {q.Spec.Method} {q.Role.ToString().ToLowerInvariant()} {what}");

    private static OnnxExportException Refuse(ModuleCall call, TensorQuantizer q, string reason) => new(call.Path, call.TypeName,
        $"its {q.Role.ToString().ToLowerInvariant()} quantizer ({q.Spec.Method}, {q.Params.Bits} bits) has no ONNX QDQ form: {reason}");
}
