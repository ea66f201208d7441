using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Quantization;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>
/// A Conv2d or Linear whose weight, input and/or output go through a <see cref="TensorQuantizer"/>: the layer computes
/// conv2d/linear of the fake-quantized input with the fake-quantized weight (straight-through gradients), then
/// fake-quantizes the output. The wrapped layer stays a child ("layer"), so its parameters keep training.
/// </summary>
public sealed class QuantizedLayer : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> layer;
    private readonly TensorQuantizer? weight_quantizer, input_quantizer, output_quantizer;

    /// <summary>Wraps <paramref name="layer"/> (a Conv2d or Linear) at <paramref name="path"/> as <paramref name="spec"/> says.</summary>
    /// <exception cref="ArgumentException">The layer is neither a Conv2d nor a Linear.</exception>
    public QuantizedLayer(string path, nn.Module<Tensor, Tensor> layer, LayerQuantization spec) : base(nameof(QuantizedLayer))
    {
        ArgumentNullException.ThrowIfNull(layer);
        Spec = spec ?? throw new ArgumentNullException(nameof(spec));
        if (layer is not (Conv2d or Linear))
            throw new ArgumentException($"layer '{path}' is a {layer.GetType().Name}; only Conv2d and Linear layers can be quantized", nameof(layer));
        Path = path;
        this.layer = layer;
        if (spec.Weight is { } w) weight_quantizer = new TensorQuantizer(path, QuantizedTensor.Weight, w);
        if (spec.Input is { } i) input_quantizer = new TensorQuantizer(path, QuantizedTensor.Input, i);
        if (spec.Output is { } o) output_quantizer = new TensorQuantizer(path, QuantizedTensor.Output, o);
        RegisterComponents();
        if (weight_quantizer?.Spec.Method == QuantMethod.Lsq) weight_quantizer.InitialiseStep(Weight);
    }

    /// <summary>Qualified path of the layer in its model.</summary>
    public string Path { get; }

    /// <summary>What the plan asked for this layer.</summary>
    public LayerQuantization Spec { get; }

    /// <summary>The wrapped Conv2d or Linear.</summary>
    public nn.Module<Tensor, Tensor> Inner => layer;

    /// <summary>The float weight the layer trains.</summary>
    public Parameter Weight => layer is Conv2d c ? c.weight : ((Linear)layer).weight;

    /// <summary>The layer's bias, or null.</summary>
    public Parameter? Bias => layer is Conv2d c ? c.bias : ((Linear)layer).bias;

    /// <summary>The weight's quantizer, or null when the weight stays float.</summary>
    public TensorQuantizer? WeightQuantizer => weight_quantizer;

    /// <summary>The input's quantizer, or null.</summary>
    public TensorQuantizer? InputQuantizer => input_quantizer;

    /// <summary>The output's quantizer, or null.</summary>
    public TensorQuantizer? OutputQuantizer => output_quantizer;

    /// <summary>
    /// True when <see cref="Weight"/> already holds the quantized values (a model loaded by <see cref="QuantizedModelFile"/>):
    /// the weight is then used as it is, since quantizing it again could move its range.
    /// </summary>
    public bool WeightIsQuantized { get; internal set; }

    /// <summary>
    /// The integer codes, scales and zeros the weight was loaded from (a model rebuilt by <see cref="QuantizedModelFile"/>), or
    /// null. Encoding the loaded values again could pick another range; the ONNX export stores these codes as they were saved.
    /// </summary>
    public EncodedWeight? StoredWeight { get; internal set; }

    /// <summary>Puts every quantizer of the layer in or out of calibration (ranges update in eval mode).</summary>
    public bool Calibrating
    {
        get => Quantizers.Any(q => q.Calibrating);
        set { foreach (var q in Quantizers) q.Calibrating = value; }
    }

    /// <summary>The layer's quantizers, weight first.</summary>
    public IEnumerable<TensorQuantizer> Quantizers =>
        new[] { weight_quantizer, input_quantizer, output_quantizer }.Where(q => q is not null)!;

    /// <summary>The weight the forward uses (quantized, or the float weight when it stays float), detached.</summary>
    public Tensor EffectiveWeight()
    {
        using var noGrad = no_grad();
        return WeightIsQuantized || weight_quantizer is null ? Weight.detach().clone() : weight_quantizer.call(Weight).detach();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input_quantizer is null ? input : input_quantizer.call(input);
        Tensor w = WeightIsQuantized || weight_quantizer is null ? Weight : weight_quantizer.call(Weight);
        var y = layer switch
        {
            Conv2d c => Models.ConvCall.Forward(c, x, w, c.bias),
            _ => nn.functional.linear(x, w, Bias),
        };
        if (output_quantizer is not null) y = output_quantizer.call(y);
        return y.MoveToOuterDisposeScope();
    }
}
