using Trainer.Abstractions.Compression;
using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>What one pruner decided: a mask per selected layer. Structured masks have one entry per output channel, level
/// masks the weight's shape; 1 keeps, 0 prunes. Dispose to free the tensors.</summary>
/// <param name="Kind">The pruner.</param>
/// <param name="Mode">The allocation mode.</param>
/// <param name="Targets">The selected layers and their sparsity, in model order.</param>
/// <param name="Masks">Mask by layer name.</param>
public sealed record PruningMasks(ImportanceCriterion Kind, PruningMode Mode, IReadOnlyList<LayerTarget> Targets, IReadOnlyDictionary<string, Tensor> Masks)
    : IDisposable
{
    /// <summary>For a structured pruner, the kept output channels of <paramref name="layer"/>, ascending.</summary>
    public int[] KeptChannels(string layer) =>
        Masks[layer].data<float>().Select((v, i) => (v, i)).Where(p => p.v != 0).Select(p => p.i).ToArray();

    /// <summary>Disposes every mask.</summary>
    public void Dispose()
    {
        foreach (var mask in Masks.Values) mask.Dispose();
    }
}

/// <summary>
/// Decides the masks of NNI v2.10's one-shot pruners on a model: the config list selects layers
/// (<see cref="ConfigResolver"/>), <see cref="WeightImportance"/> ranks their weights and <see cref="SparsityAllocators"/> keeps the
/// best. Dependency-aware mode takes its coupled channel sets and group constraints from the core's channel groups
/// (<see cref="IModelEditor.ChannelGroups"/>), so what is masked together is what the core shrinks together.
/// Changes nothing in the model.
/// </summary>
public static class MaskPlanner
{
    /// <summary>Module types the channel pruners can prune (NNI's NormPruner and FPGMPruner accept these two).</summary>
    public static readonly IReadOnlyList<string> ChannelTypes = ["Conv2d", "Linear"];

    /// <summary>Module types slim prunes (NNI's SlimPruner accepts BatchNorm2d only).</summary>
    public static readonly IReadOnlyList<string> BatchNormTypes = ["BatchNorm2d"];

    /// <summary>The masks of <paramref name="kind"/> in <paramref name="mode"/> for <paramref name="configList"/>.</summary>
    /// <param name="model">The model; its weights are read, not changed.</param>
    /// <param name="kind">The pruner.</param>
    /// <param name="mode">The allocation mode (level has no dependency-aware mode, as in NNI).</param>
    /// <param name="configList">NNI's config list.</param>
    /// <param name="editor">The core's view of the model; needed for dependency-aware mode only.</param>
    /// <param name="settingKey">Names the config list in errors.</param>
    /// <param name="collected">For the data-driven pruners (<see cref="ImportanceCriteria.IsDataDriven"/>, slim aside): the metric of
    /// each selected layer, collected during training (<see cref="DataCollectors"/>); the caller keeps ownership.</param>
    /// <exception cref="ArgumentException">A bad config list (see <see cref="ConfigResolver.Resolve"/>), level in
    /// dependency-aware mode, or dependency-aware mode without an editor.</exception>
    public static PruningMasks Plan(nn.Module model, ImportanceCriterion kind, PruningMode mode, IReadOnlyList<ConfigEntry> configList,
        IModelEditor? editor, string settingKey, IReadOnlyDictionary<string, Tensor>? collected = null)
    {
        if (kind == ImportanceCriterion.Level && mode == PruningMode.DependencyAware)
            throw new ArgumentException("level prunes single weights; its modes are normal and global (dependency_aware is for channel pruners)", settingKey);
        if (mode == PruningMode.DependencyAware && editor is null)
            throw new ArgumentException("dependency_aware mode needs the model's channel groups (an IModelEditor)", nameof(editor));

        var modules = model.named_modules().Where(m => m.name.Length > 0).ToList();
        var targets = Targets(model, kind, mode, configList, settingKey);
        var byName = modules.ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);

        var metrics = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var numel = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            foreach (var target in targets)
            {
                var weight = Weight(byName[target.Name], target.Name);
                metrics[target.Name] = kind == ImportanceCriterion.Slim || !ImportanceCriteria.IsDataDriven(kind) ? WeightImportance.Of(kind, weight)
                    : collected is not null && collected.TryGetValue(target.Name, out var metric) ? metric.clone()
                    : throw new ArgumentException($"no {kind} metric was collected for '{target.Name}'", nameof(collected));
                numel[target.Name] = weight.numel();
            }
            var sparsity = targets.ToDictionary(t => t.Name, t => t.Sparsity, StringComparer.Ordinal);
            var masks = mode switch
            {
                PruningMode.Normal => SparsityAllocators.Normal(metrics, sparsity),
                PruningMode.DependencyAware => SparsityAllocators.DependencyAware(metrics, sparsity,
                    editor!.ChannelGroups.Select(g => g.Producers), GroupDependency(editor)),
                _ => SparsityAllocators.Global(metrics, numel, targets[0].Sparsity,
                    targets.ToDictionary(t => t.Name, t => t.MaxSparsity ?? 0.99, StringComparer.Ordinal)),
            };
            return new PruningMasks(kind, mode, targets, masks);
        }
        finally
        {
            foreach (var metric in metrics.Values) metric.Dispose();
        }
    }

    /// <summary>The layers <paramref name="configList"/> selects for <paramref name="kind"/> in <paramref name="mode"/>, in
    /// model order (what a data-driven pruner hooks before it collects).</summary>
    /// <exception cref="ArgumentException">A bad config list (see <see cref="ConfigResolver.Resolve"/>).</exception>
    public static IReadOnlyList<LayerTarget> Targets(nn.Module model, ImportanceCriterion kind, PruningMode mode, IReadOnlyList<ConfigEntry> configList,
        string settingKey) =>
        ConfigResolver.Resolve(configList, model.named_modules().Where(m => m.name.Length > 0).Select(m => (m.name, m.module.GetType().Name)).ToList(),
            PrunerSettings.TypesOf(kind), mode == PruningMode.Global, settingKey);

    /// <summary>
    /// NNI's GroupDependency from the core's layers and groups: a conv's own groups (1 for a depthwise conv, whose groups
    /// equal its output channels) and the groups of every grouped, non-depthwise conv reading its channels; the layer's
    /// channel count must stay divisible by their least common multiple.
    /// </summary>
    public static IReadOnlyDictionary<string, int> GroupDependency(IModelEditor editor)
    {
        var factors = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var layers = editor.Layers.ToDictionary(l => l.Name, StringComparer.Ordinal);
        static int Own(WeightLayerInfo l) => l.Groups == l.OutChannels ? 1 : l.Groups;
        foreach (var layer in editor.Layers.Where(l => l.Type == "Conv2d"))
            factors[layer.Name] = [Own(layer)];
        foreach (var group in editor.ChannelGroups)
            foreach (var consumer in group.Consumers)
                if (layers.TryGetValue(consumer.Layer, out var reader) && reader.Type == "Conv2d" && Own(reader) > 1)
                    foreach (var producer in group.Producers)
                        (factors.TryGetValue(producer, out var list) ? list : factors[producer] = []).Add(Own(reader));
        return factors.ToDictionary(f => f.Key, f => f.Value.Aggregate(1, (a, b) => a / Gcd(a, b) * b), StringComparer.Ordinal);
    }

    private static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>The "weight" parameter of a module; one clear error when it has none.</summary>
    internal static Tensor Weight(nn.Module module, string name) =>
        module.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter
        ?? throw new ArgumentException($"layer '{name}' ({module.GetType().Name}) has no weight to prune");
}
