using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Quantization;

/// <summary>The layers a plan wrapped and the BatchNorms it folded.</summary>
/// <param name="Plan">The plan applied.</param>
/// <param name="Layers">The wrappers now in the model, in plan order.</param>
/// <param name="Folded">BatchNorms folded into their conv before wrapping.</param>
public sealed record AppliedQuantization(QuantizationPlan Plan, IReadOnlyList<QuantizedLayer> Layers, IReadOnlyList<FoldedBatchNorm> Folded);

/// <summary>
/// Applies a <see cref="QuantizationPlan"/>: checks all of it first (every layer a Conv2d or Linear of the model, every
/// tensor setting possible), then optionally folds BatchNorms and swaps each selected layer for a <see cref="QuantizedLayer"/>
/// in place (through <see cref="ModuleReplacer"/>). Nothing changes when the check fails. Rebuild optimizers afterwards.
/// </summary>
public static class QuantizationApplier
{
    /// <summary>Checks <paramref name="plan"/> against <paramref name="model"/>; throws one <see cref="ArgumentException"/> naming the layer and the problem.</summary>
    public static void Validate(nn.Module<Tensor, Tensor> model, QuantizationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        if (plan.Layers.Count == 0)
            throw new ArgumentException($"the {plan.Quantizer} plan selects no layer; check its layer selection settings (exclude, layers, types)", nameof(plan));
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var layer in plan.Layers)
        {
            if (!seen.Add(layer.Layer)) throw new ArgumentException($"layer '{layer.Layer}' appears twice in the {plan.Quantizer} plan", nameof(plan));
            if (!modules.TryGetValue(layer.Layer, out var module))
                throw new ArgumentException($"layer '{layer.Layer}' is not in the model; layers are {string.Join(", ", WeightLayers(model).Take(12))}", nameof(plan));
            if (module is QuantizedLayer) throw new ArgumentException($"layer '{layer.Layer}' is already quantized", nameof(plan));
            if (module is not (Conv2d or Linear))
                throw new ArgumentException($"layer '{layer.Layer}' is a {module.GetType().Name}; only Conv2d and Linear layers can be quantized", nameof(plan));
            if (layer.Weight is null && layer.Input is null && layer.Output is null)
                throw new ArgumentException($"layer '{layer.Layer}' quantizes no tensor; give it a weight, input or output setting", nameof(plan));
            Check(layer.Layer, QuantizedTensor.Weight, layer.Weight);
            Check(layer.Layer, QuantizedTensor.Input, layer.Input);
            Check(layer.Layer, QuantizedTensor.Output, layer.Output);
        }
    }

    /// <summary>Validates, folds BatchNorms when the plan asks (needs <paramref name="exampleInputShape"/>), and wraps every planned layer.</summary>
    public static AppliedQuantization Apply(nn.Module<Tensor, Tensor> model, QuantizationPlan plan, IReadOnlyList<long> exampleInputShape, ILogger logger)
    {
        Validate(model, plan);
        ArgumentNullException.ThrowIfNull(exampleInputShape);
        IReadOnlyList<FoldedBatchNorm> folded = [];
        if (plan.FoldBatchNorm)
        {
            folded = BatchNormFolder.FindPairs(model, exampleInputShape, plan.Layers.Select(l => l.Layer), logger);
            foreach (var pair in folded) BatchNormFolder.Fold(model, pair);
            logger.LogInformation("Folded {Count} BatchNorm layer(s) into their convolution: {Pairs}", folded.Count,
                string.Join(", ", folded.Select(f => $"{f.BatchNorm} -> {f.Conv}")));
        }
        var layers = Wrap(model, plan);
        logger.LogInformation("{Quantizer}: quantized {Count} layer(s): {Layers}", plan.Quantizer, layers.Count,
            string.Join("; ", layers.Select(Describe)));
        return new AppliedQuantization(plan, layers, folded);
    }

    /// <summary>Swaps each planned layer for its wrapper (no validation, no folding; for loaders that checked already).</summary>
    internal static IReadOnlyList<QuantizedLayer> Wrap(nn.Module<Tensor, Tensor> model, QuantizationPlan plan)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var layers = new List<QuantizedLayer>();
        foreach (var spec in plan.Layers)
        {
            var wrapper = new QuantizedLayer(spec.Layer, (nn.Module<Tensor, Tensor>)modules[spec.Layer], spec);
            ModuleReplacer.Replace(model, spec.Layer, wrapper);
            layers.Add(wrapper);
        }
        return layers;
    }

    /// <summary>Conv2d and Linear paths of <paramref name="model"/>, in registration order.</summary>
    public static IEnumerable<string> WeightLayers(nn.Module model) =>
        model.named_modules().Where(m => m.module is Conv2d or Linear).Select(m => m.name);

    private static void Check(string layer, QuantizedTensor role, TensorQuantization? t)
    {
        if (t is null) return;
        var what = $"layer '{layer}' {role.ToString().ToLowerInvariant()}";
        if (t.Bits < QuantParams.MinBits || t.Bits > QuantParams.MaxBits)
            throw new ArgumentException($"{what}: bits must be between {QuantParams.MinBits} and {QuantParams.MaxBits}; got {t.Bits}");
        bool weight = role == QuantizedTensor.Weight;
        if (weight && t.Method is QuantMethod.MinMax or QuantMethod.MovingAverage or QuantMethod.Percentile)
            throw new ArgumentException($"{what}: {t.Method} tracks activations over batches; weights use Naive (their own min/max)");
        if (weight && t.Unsigned) throw new ArgumentException($"{what}: weights need a signed grid");
        if (!weight && t.Granularity == QuantizationGranularity.PerChannel)
            throw new ArgumentException($"{what}: per-channel granularity is for weights; activations are per tensor");
        if (t.Method == QuantMethod.Lsq && t.Granularity == QuantizationGranularity.PerChannel)
            throw new ArgumentException($"{what}: LSQ learns one step per tensor; use per-tensor granularity");
        if (t.Method == QuantMethod.Percentile && !(t.Percentile >= 50 && t.Percentile <= 100))
            throw new ArgumentException($"{what}: the percentile must be in [50, 100]; got {t.Percentile}");
        if (t.Method == QuantMethod.MovingAverage && !(t.AveragingConstant > 0 && t.AveragingConstant <= 1))
            throw new ArgumentException($"{what}: the averaging constant must be in (0, 1]; got {t.AveragingConstant}");
    }

    private static string Describe(QuantizedLayer l) =>
        $"{l.Path} [{string.Join(", ", l.Quantizers.Select(q => $"{q.Role.ToString().ToLowerInvariant()} {q.Spec.Method} {q.Params.Bits}b"))}]";
}
