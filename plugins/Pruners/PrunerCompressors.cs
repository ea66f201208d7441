using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using static TorchSharp.torch;

[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]

namespace Plugins.Pruners;

/// <summary>
/// One of NNI v2.10's one-shot pruners as a compressor. It decides the masks (<see cref="MaskPlanner"/>); the core makes
/// them real: a channel pruner's kept channels go to <see cref="IModelEditor.ShrinkChannels"/> (a channel survives in a
/// coupled group when any of the group's masked layers keeps it, as NNI's mask-conflict fix decides), and level's masked
/// weights are set to zero for good. Settings: see <see cref="PrunerSettings"/>.
/// </summary>
public abstract class NniPrunerCompressor : ICompressor
{
    /// <summary>The pruner this compressor runs.</summary>
    protected abstract ImportanceCriterion Kind { get; }

    /// <inheritdoc />
    public abstract string Name { get; }

    /// <inheritdoc />
    public void CheckSettings(IReadOnlyDictionary<string, string> settings) => PrunerSettings.Read(settings, Name, Kind);

    /// <inheritdoc />
    public CompressionResult Compress(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var settings = PrunerSettings.Read(request.Settings, Name, Kind);
        const string key = PrunerSettings.ConfigListKey;
        var before = request.Editor.Cost;
        // The config list is checked against the model before any training is spent on it.
        var targets = MaskPlanner.Targets(request.Model, Kind, settings.Mode, settings.ConfigList, key);
        var collected = ImportanceCriteria.IsDataDriven(Kind) ? DataCollectors.Collect(request, Kind, settings, targets, Name) : null;
        List<LayerNote> notes;
        PruningMasks masks;
        try
        {
            masks = MaskPlanner.Plan(request.Model, Kind, settings.Mode, settings.ConfigList, request.Editor, key, collected);
        }
        finally
        {
            foreach (var metric in collected?.Values.ToList() ?? []) metric.Dispose();
        }
        using var planned = masks;
        notes = Kind == ImportanceCriterion.Slim ? DataCollectors.ShrinkFromBatchNorm(request, masks)
            : ImportanceCriteria.IsStructured(Kind) ? Shrink(request.Editor, masks) : ZeroWeights(request.Model, masks);
        var after = request.Editor.Cost;
        foreach (var note in notes) request.Logger.LogInformation("{Layer}: {Note}", note.Layer, note.Note);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Name} (mode {ModeName(settings.Mode)}): {masks.Targets.Count} layers selected; MACs {before.Macs} -> {after.Macs}, params {before.Params} -> {after.Params}.");
        request.Logger.LogInformation("{Summary}", summary);
        return new CompressionResult(request.Model, notes, summary);
    }

    private static string ModeName(PruningMode mode) => mode switch
    {
        PruningMode.DependencyAware => "dependency_aware",
        PruningMode.Global => "global",
        _ => "normal",
    };

    /// <summary>Turns per-layer channel masks into kept channels per group and shrinks the groups that lose any.</summary>
    internal static List<LayerNote> Shrink(IModelEditor editor, PruningMasks masks)
    {
        var notes = new List<LayerNote>();
        var kept = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        foreach (var group in editor.ChannelGroups)
        {
            var masked = group.Producers.Where(masks.Masks.ContainsKey).ToList();
            if (masked.Count == 0) continue;
            // A producer the config list left alone keeps all its channels, so the group does too.
            var flags = Enumerable.Range(0, group.Channels)
                .Select(c => group.Producers.Any(p => !masks.Masks.ContainsKey(p) || masks.Masks[p][c].item<float>() != 0)).ToArray();
            var count = flags.Count(f => f);
            if (count == group.Channels)
                notes.Add(new LayerNote(group.Id, $"keeps its {group.Channels} channels (masked: {string.Join(", ", masked)}; the group's other layers keep every channel)"));
            else if (!group.IsPrunable)
                notes.Add(new LayerNote(group.Id, $"masks {group.Channels - count} of {group.Channels} channels, not removed: {group.BlockedBy}"));
            else
                kept[group.Id] = flags;
        }
        // A depthwise conv carries its input's channels: the core shrinks it with its producer's group, not on its own.
        var producers = editor.ChannelGroups.SelectMany(g => g.Producers).ToHashSet(StringComparer.Ordinal);
        foreach (var layer in masks.Targets.Where(t => !producers.Contains(t.Name)))
            notes.Add(new LayerNote(layer.Name, "mask not applied: the layer carries another layer's channels (e.g. a depthwise conv); " +
                "select the layer that produces them"));
        if (kept.Count == 0) return notes;
        var summary = editor.ShrinkChannels(kept);
        foreach (var (id, flags) in summary.KeptByGroup)
            notes.Add(new LayerNote(id, $"keeps {flags.Count(f => f)} of {flags.Length} channels"));
        return notes;
    }

    /// <summary>Level: sets every masked weight to zero, in place (the pruning is permanent, as after prune.remove).</summary>
    internal static List<LayerNote> ZeroWeights(nn.Module model, PruningMasks masks)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var notes = new List<LayerNote>();
        using var _ = no_grad();
        foreach (var target in masks.Targets)
        {
            var weight = MaskPlanner.Weight(modules[target.Name], target.Name);
            var mask = masks.Masks[target.Name];
            weight.mul_(mask);
            var zeros = mask.numel() - mask.count_nonzero().item<long>();
            notes.Add(new LayerNote(target.Name, string.Create(CultureInfo.InvariantCulture,
                $"{zeros} of {mask.numel()} weights set to zero ({100.0 * zeros / mask.numel():0.0}%)")));
        }
        return notes;
    }
}

/// <summary>NNI's LevelPruner: the smallest-magnitude weights of each layer (unstructured).</summary>
public sealed class LevelPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.Level;

    /// <inheritdoc />
    public override string Name => "level";
}

/// <summary>NNI's L1NormPruner: the output channels with the smallest L1 norm.</summary>
public sealed class L1NormPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.L1Norm;

    /// <inheritdoc />
    public override string Name => "l1-norm";
}

/// <summary>NNI's L2NormPruner: the output channels with the smallest L2 norm.</summary>
public sealed class L2NormPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.L2Norm;

    /// <inheritdoc />
    public override string Name => "l2-norm";
}

/// <summary>NNI's FPGMPruner: the output channels nearest the geometric median of the layer's filters.</summary>
public sealed class FpgmPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.Fpgm;

    /// <inheritdoc />
    public override string Name => "fpgm";
}

/// <summary>NNI's SlimPruner: trains with λ·Σ‖γ‖₁ on the selected BatchNorm2d scales, then removes the channels with the
/// smallest |γ| (mode global by default, as NNI's), through the layer each BatchNorm follows.</summary>
public sealed class SlimPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.Slim;

    /// <inheritdoc />
    public override string Name => "slim";
}

/// <summary>NNI's ActivationAPoZRankPruner: the output channels whose activation is most often zero over the training batches.</summary>
public sealed class ApozPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.Apoz;

    /// <inheritdoc />
    public override string Name => "apoz";
}

/// <summary>NNI's ActivationMeanRankPruner: the output channels with the smallest mean activation over the training batches.</summary>
public sealed class MeanActivationPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.MeanActivation;

    /// <inheritdoc />
    public override string Name => "mean-activation";
}

/// <summary>NNI's TaylorFOWeightPruner: the output channels with the smallest Σ(w·g)² accumulated over training steps.</summary>
public sealed class TaylorFoPrunerCompressor : NniPrunerCompressor
{
    /// <inheritdoc />
    protected override ImportanceCriterion Kind => ImportanceCriterion.TaylorFo;

    /// <inheritdoc />
    public override string Name => "taylor-fo";
}
