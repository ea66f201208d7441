using System.Diagnostics;
using TorchSharp;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning;

/// <summary>
/// Removes output channels from a model in place, Torch-Pruning style: compressors choose which channels
/// each producer keeps (importance), the graph says which layers depend on them (dependency groups), and one
/// <see cref="LayerPruner"/> per layer type slices: for every producer (Conv1d/2d/3d, ConvTranspose, Linear) with a
/// mask its outputs and bias, its followers (BatchNorm, GroupNorm, LayerNorm, depthwise convs, whose groups shrink too)
/// and each consumer's inputs, following the <see cref="ModelGraph"/>'s channel mappings (identity, offset after a
/// concatenation, block after a flatten), then fixes TorchSharp's stale size fields and checks the model with one
/// forward pass.
/// </summary>
/// <remarks>
/// <para>Masks are exact: rounding kept counts (<see cref="ChannelRounding"/>) is the chooser's job.</para>
/// <para>Everything is validated before the first tensor changes, so a refused mask leaves the model as it was.</para>
/// <para>Parameters are replaced by new ones: optimizers created before shrinking hold stale parameters and must be
/// rebuilt. Build a new graph before shrinking the same model again.</para>
/// </remarks>
public static class ChannelShrinker
{
    /// <summary>Shrinks <paramref name="model"/> to the kept output channels of its producers.</summary>
    /// <param name="model">The model <paramref name="graph"/> was built from, in the same state.</param>
    /// <param name="graph">The model's dependency graph.</param>
    /// <param name="keptOutputChannels">Producer path → one flag per output channel (true keeps). Producers of one dependency
    /// group must have identical masks (<see cref="MaskConflict.Fix"/> makes them so); a producer without a mask keeps all
    /// its channels; a mask keeping everything changes nothing.</param>
    /// <param name="options">Options; defaults when null.</param>
    /// <returns>The layers that changed and the parameter counts.</returns>
    /// <exception cref="ArgumentException">A mask names no producer, has the wrong length, keeps no channel, disagrees with its
    /// coupled producers, touches a group the graph has problems with, breaks a grouped conv's or GroupNorm's divisor,
    /// or shrinks the model's output layer without <see cref="ShrinkOptions.AllowOutputLayer"/>; the model is unchanged.</exception>
    /// <exception cref="ModelAnalysisException">The shrunk model fails its forward pass (e.g. functional code with a fixed channel
    /// count); the message names the layer where shapes broke. The model stays shrunk and must not be used.</exception>
    public static ShrinkReport Shrink(nn.Module<Tensor, Tensor> model, ModelGraph graph,
        IReadOnlyDictionary<string, bool[]> keptOutputChannels, ShrinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(keptOutputChannels);
        options ??= new ShrinkOptions();
        var clock = Stopwatch.StartNew();

        var pruning = MaskValidator.Validate(graph, keptOutputChannels, options);
        var plans = ShrinkPlan.Build(graph, pruning);
        var modules = new Dictionary<string, nn.Module>();
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);
        foreach (var plan in plans)
        {
            if (!modules.TryGetValue(plan.Layer.Name, out var module))
                throw new ArgumentException($"the graph names '{plan.Layer.Name}', which is not a module of the model", nameof(graph));
            LayerSlicer.CheckCurrent(module, plan);
        }

        long paramsBefore = CountParameters(model);
        var rows = new List<LayerShrink>();
        using (no_grad())
        using (NewDisposeScope())
        {
            foreach (var plan in plans)
            {
                var module = modules[plan.Layer.Name];
                var (inBefore, outBefore, pBefore) = Sizes(module);
                LayerSlicer.Apply(module, plan);
                var (inAfter, outAfter, pAfter) = Sizes(module);
                rows.Add(new LayerShrink(plan.Layer.Name, plan.Layer.Type, inBefore, inAfter, outBefore, outAfter, pBefore, pAfter));
            }
        }
        if (plans.Count > 0) CheckForward(model, graph.InputShape);
        clock.Stop();

        var notRounded = pruning.Where(p => !ChannelRounding.IsRounded(p.Value.Length, p.Value.Count(k => k), options.RoundTo))
            .Select(p => p.Key).OrderBy(p => graph.Layer(p).Index).ToList();
        return new ShrinkReport(rows, paramsBefore, CountParameters(model), notRounded, clock.Elapsed);
    }

    /// <summary>
    /// One forward pass on zeros of the graph's input shape, in eval mode and without gradients, every training flag restored.
    /// FlopsCounter's pass does exactly that and names the innermost running layer (pre-hooks) when the pass throws.
    /// </summary>
    private static void CheckForward(nn.Module<Tensor, Tensor> model, IReadOnlyList<long> inputShape) =>
        FlopsCounter.Count(model, inputShape.ToArray());

    private static (long In, long Out, long Params) Sizes(nn.Module module)
    {
        var (input, output) = LayerSlicer.Widths(module);
        return (input, output, module.parameters(recurse: false).Sum(p => p.numel()));
    }

    private static long CountParameters(nn.Module model) => model.parameters().Sum(p => p.numel());
}
