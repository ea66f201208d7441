using Trainer.Abstractions;
using Trainer.Core.Quantization;
using TorchSharp;
using SummaryWriter = TorchSharp.Modules.SummaryWriter;

namespace Trainer.Core.Callbacks;

/// <summary>
/// Writes the state of quantized layers to TensorBoard: per layer and tensor the scale and represented range
/// ("quant/&lt;layer&gt;/&lt;tensor&gt;_scale", "_min", "_max"; "_step" for LSQ), and a histogram of the quantized weight
/// values ("quant_weights/&lt;layer&gt;") and of their integer codes ("quant_codes/&lt;layer&gt;").
/// </summary>
public sealed class QuantizationTensorBoard : TrainerCallback
{
    private readonly SummaryWriter writer;
    private readonly IReadOnlyList<QuantizedLayer> layers;

    /// <summary>Logs <paramref name="layers"/> to <paramref name="writer"/> at the end of every epoch (x value epoch + 1).</summary>
    public QuantizationTensorBoard(SummaryWriter writer, IReadOnlyList<QuantizedLayer> layers)
    {
        this.writer = writer ?? throw new ArgumentNullException(nameof(writer));
        this.layers = layers ?? throw new ArgumentNullException(nameof(layers));
    }

    /// <inheritdoc/>
    public override void OnEpochEnd(ITrainingContext context) => Write(checked((int)(context.Epoch + 1L)));

    /// <summary>Writes every layer's scalars and histograms at <paramref name="step"/>; tensors made here are disposed.</summary>
    public void Write(int step)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var layer in layers)
        {
            foreach (var q in layer.Quantizers.Where(q => q.Role != QuantizedTensor.Weight && q.IsReady))
                WriteActivation(layer.Path, q, step);
            if (layer.WeightQuantizer is null) continue;
            writer.add_histogram($"quant_weights/{layer.Path}", layer.EffectiveWeight(), step);
            if (layer.WeightQuantizer.Params.Bits > 8 || layer.WeightIsQuantized) continue;
            var encoded = EncodedWeight.Encode(layer);
            writer.add_scalar($"quant/{layer.Path}/weight_scale", encoded.Scales.Average(), step);
            writer.add_histogram($"quant_codes/{layer.Path}", torch.tensor(encoded.Codes).to(torch.ScalarType.Float32), step);
        }
    }

    private void WriteActivation(string layer, TensorQuantizer q, int step)
    {
        var tag = $"quant/{layer}/{q.Role.ToString().ToLowerInvariant()}";
        if (q.Step is { } s)
        {
            var value = s.item<float>();
            writer.add_scalar(tag + "_step", value, step);
            writer.add_scalar(tag + "_min", value * q.Params.QMin, step);
            writer.add_scalar(tag + "_max", value * q.Params.QMax, step);
        }
        else if (q.Scale is { } scale && q.ZeroPoint is { } zp)
        {
            float sc = scale.item<float>(), z = zp.item<long>();
            writer.add_scalar(tag + "_scale", sc, step);
            writer.add_scalar(tag + "_min", (q.Params.QMin - z) * sc, step);
            writer.add_scalar(tag + "_max", (q.Params.QMax - z) * sc, step);
        }
    }
}
