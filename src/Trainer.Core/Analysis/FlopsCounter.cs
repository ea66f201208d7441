using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using TorchModule = TorchSharp.torch.nn.Module;

namespace Trainer.Core.Analysis;

/// <summary>
/// Counts FLOPs and parameters of a model the way NNI v2.10's <c>count_flops_params</c> does
/// (nni/compression/pytorch/utils/counter.py), giving the same numbers to the unit.
/// </summary>
/// <remarks>
/// <para>One forward pass runs on zeros of the given shape, in eval mode, under <c>no_grad</c>, with forward hooks on every
/// module; the hooks copy shapes only, and are removed afterwards. Every module's training flag is restored.
/// Counts are per sample: the batch dimension never multiplies anything.</para>
/// <para>Only modules reached through <c>call</c> are seen (TorchSharp hooks do not fire through <c>forward</c>), and only
/// those of a counted type (<see cref="CountMode"/>; exact types, as NNI's <c>type(m) in ops</c>). ReLU, MaxPool, Flatten
/// and functional operations are never counted. Recurrent layers, which NNI counts, are not counted here.</para>
/// <para>NNI details kept as they are: a Linear counts <c>out_features * in_features</c> even when its input has more than
/// two dimensions (a [1,50,768] input counts as one row); a grouped or depthwise convolution counts
/// <c>cout * spatial * kernel * cin / groups</c>; a module called twice gives two rows, but its parameters are summed once
/// (by name) in <see cref="FlopsReport.TotalParams"/>; Default-mode parameters are those of Conv/Linear layers only.</para>
/// <para>Output masks go beyond NNI, which counts kept output filters for FLOPs only, with all parameters and all input
/// channels: here a masked layer's parameters shrink too, and the kept count reaches following layers as described on
/// <see cref="Count"/>. NNI derives a masked conv's kept filters as <c>weight_mask.sum() / (cin * kernel)</c>, which is
/// wrong for grouped convolutions (0 for a half-masked depthwise conv); here the mask's kept entries are counted.</para>
/// </remarks>
public static class FlopsCounter
{
    /// <summary>Counts <paramref name="model"/> on one input of shape <paramref name="inputShape"/>.</summary>
    /// <param name="model">The model; its layers must call their children with <c>call</c>.</param>
    /// <param name="inputShape">Input shape including the batch dimension, e.g. <c>[1, 3, 224, 224]</c>.</param>
    /// <param name="mode">Which layers to count.</param>
    /// <param name="outputMasks">
    /// Optional pruning masks: module path of a Conv1d/2d/3d or Linear → bool or 0/1 tensor with one entry per output
    /// channel (feature). A masked layer counts its kept output channels only, in FLOPs, bias and parameters. Every layer
    /// the model's dependency graph finds reading those channels (a Conv or Linear, also behind residual adds inside any
    /// container, concatenations and flattens; a depthwise conv; in Full mode a BatchNorm) counts only the input channels
    /// that some producer still keeps (<see cref="MaskedCounts"/>). In Full mode, parameterless layers (pooling,
    /// LeakyReLU, Upsample) count all their channels.
    /// </param>
    /// <returns>One row per counted call, in execution order, with totals.</returns>
    /// <exception cref="ArgumentException">A mask names no module, a module that is not Conv/Linear, or has the wrong size or values.</exception>
    /// <exception cref="ModelAnalysisException">The forward pass failed; the message names the innermost running module.</exception>
    public static FlopsReport Count(nn.Module<Tensor, Tensor> model, long[] inputShape, CountMode mode = CountMode.Default,
        IReadOnlyDictionary<string, Tensor>? outputMasks = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
            throw new ArgumentException($"Input shape [{string.Join(",", inputShape)}] must have positive dimensions.", nameof(inputShape));

        var seen = new HashSet<TorchModule>(ReferenceEqualityComparer.Instance);
        var specs = new List<LayerSpec>();
        foreach (var (name, module) in model.named_modules().Prepend((string.Empty, (TorchModule)model)))
            if (seen.Add(module)) specs.Add(LayerRules.Describe(name, module));
        var masks = CheckMasks(specs, outputMasks);

        var run = new Run(mode);
        var removers = new List<Action>();
        try
        {
            foreach (var spec in specs)
                if (spec.Module is nn.Module<Tensor, Tensor> hookable)
                {
                    var s = spec;
                    removers.Add(hookable.register_forward_pre_hook((_, input) => { run.Enter(s, input); return null!; }).remove);
                    removers.Add(hookable.register_forward_hook((_, input, output) => { run.Leave(s, input, output); return null!; }).remove);
                }
            using (new Models.EvalModeScope(model))
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                var first = model.parameters().FirstOrDefault();
                var x = torch.zeros(inputShape, dtype: first?.dtype ?? ScalarType.Float32, device: first?.device);
                try
                {
                    model.call(x);
                }
                catch (Exception e) when (e is not ModelAnalysisException)
                {
                    throw run.Failure(e, specs[0], inputShape);
                }
            }
        }
        finally
        {
            foreach (var remove in removers) remove();
        }
        var report = new FlopsReport(run.Rows, mode);
        if (masks.Count == 0) return report;
        var graph = Graph.ModelGraph.Build(model, inputShape);
        return MaskedCounts.Recount(model, report, graph, masks);
    }

    /// <summary>The masks as flags, each checked against its layer.</summary>
    private static Dictionary<string, bool[]> CheckMasks(List<LayerSpec> specs, IReadOnlyDictionary<string, Tensor>? masks)
    {
        var flags = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        if (masks is null) return flags;
        using var scope = torch.NewDisposeScope();
        foreach (var (name, mask) in masks)
        {
            var spec = specs.FirstOrDefault(s => s.Name == name)
                ?? throw new ArgumentException($"Output mask for '{name}': the model has no module of that name. Closest: " +
                    string.Join(", ", Models.NameSuggestions.Closest(name, specs.Select(s => s.Name))), nameof(masks));
            if (spec.Kind is not (LayerKind.Conv or LayerKind.Linear) || spec.Transposed)
                throw new ArgumentException($"Output mask for '{name}': {spec.Type} is not a Conv1d/2d/3d or Linear layer.", nameof(masks));
            if (mask.numel() != spec.OutputChannels)
                throw new ArgumentException(
                    $"Output mask for '{name}' has {mask.numel()} entries; the layer has {spec.OutputChannels} output channels.", nameof(masks));
            var values = mask.detach().to_type(ScalarType.Float64).cpu().flatten();
            long kept = values.ne(0).sum().item<long>();
            if (values.eq(1).sum().item<long>() != kept)
                throw new ArgumentException($"Output mask for '{name}' must hold only 0 and 1 (or bool).", nameof(masks));
            flags[name] = values.ne(0).data<bool>().ToArray();
        }
        return flags;
    }

    /// <summary>State shared by the hooks of one forward pass.</summary>
    private sealed class Run(CountMode mode)
    {
        private readonly Stack<(LayerSpec Spec, long[] InputShape)> running = new();

        public List<LayerCount> Rows { get; } = [];

        public void Enter(LayerSpec spec, Tensor input) => running.Push((spec, input.shape));

        public void Leave(LayerSpec spec, Tensor input, Tensor output)
        {
            if (running.Count > 0) running.Pop();
            if (spec.HasChildren) return;
            long[] inShape = input.shape, outShape = output.shape;
            if (LayerRules.IsCounted(spec.Kind, mode))
            {
                var (flops, parameters) = LayerRules.Count(spec, mode, inShape, outShape, inState: null);
                Rows.Add(new LayerCount(spec.Name, spec.Type, inShape, outShape, flops, parameters));
            }
        }

        /// <summary>The input a Conv or Linear layer takes, read from its weight; null for other layers.</summary>
        private static string? Takes(LayerSpec spec) => spec.WeightShape.Length == 0 ? null : spec.Kind switch
        {
            LayerKind.Linear => $"[..., {spec.InputChannels}]",
            LayerKind.Conv => $"[N,{spec.InputChannels}{string.Concat(Enumerable.Repeat(",*", spec.WeightShape.Length - 2))}]",
            _ => null,
        };

        public ModelAnalysisException Failure(Exception e, LayerSpec root, long[] inputShape)
        {
            var (spec, shape) = running.Count > 0 ? running.Peek() : (root, inputShape);
            return new ModelAnalysisException(spec.Name, spec.Type, shape, e, Takes(spec));
        }
    }
}
