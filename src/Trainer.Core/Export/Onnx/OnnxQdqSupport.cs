using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;

namespace Trainer.Core.Export.Onnx;

/// <summary>
/// What the QDQ export can write, decided from a quantization plan alone, so a run that will write ONNX refuses a plan
/// before calibrating or finetuning. The export itself (the QuantizedLayer rule) checks again on the model.
/// </summary>
public static class OnnxQdqSupport
{
    /// <summary>Throws for the first tensor of <paramref name="plan"/> whose quantizer has no ONNX QDQ form.</summary>
    /// <exception cref="OnnxExportException">Names the layer, the tensor, the method and why.</exception>
    public static void Check(QuantizationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        foreach (var layer in plan.Layers)
        {
            Tensor(layer.Layer, QuantizedTensor.Weight, layer.Weight);
            Tensor(layer.Layer, QuantizedTensor.Input, layer.Input);
            Tensor(layer.Layer, QuantizedTensor.Output, layer.Output);
        }
    }

    private static void Tensor(string layer, QuantizedTensor role, TensorQuantization? t)
    {
        if (t is null) return;
        var p = TensorQuantizer.ToParams(t);
        string? reason = role == QuantizedTensor.Weight
            ? (t.Method == QuantMethod.DoReFa && p.Bits > 7 ? $"its {p.Bits}-bit levels (2·code − n)/n with n = {(1 << p.Bits) - 1} span more than int8 holds; use at most 7 bits"
                : p.Bits > 8 ? $"{p.Bits}-bit weights do not fit int8" : null)
            : t.Method switch
            {
                QuantMethod.Binary => "binary values are −1 and +1 and never 0, but every QuantizeLinear/DequantizeLinear grid holds 0 at its " +
                                      "integer zero point, so no QDQ pair computes sign(x); keep this tensor float (quantize weights only)",
                QuantMethod.Naive => "a range measured from each tensor at run time (dynamic quantization) has no fixed QuantizeLinear scale",
                _ when p.Bits > 8 => $"{p.Bits}-bit activations need 16-bit QuantizeLinear (opset 21), beyond this opset-17 export",
                _ => null,
            };
        if (reason is not null)
            throw new OnnxExportException(layer, nameof(QuantizedLayer),
                $"its {role.ToString().ToLowerInvariant()} quantizer ({t.Method}, {p.Bits} bits) has no ONNX QDQ form: {reason}");
    }
}
