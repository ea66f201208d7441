using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using TorchSharp;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// Makes structured pruning real: output channels whose weights a channel pruner (l1-norm, l2-norm) zeroed are removed by
/// the model editor (<see cref="ModelEditor.ShrinkChannels"/>: every dependent BatchNorm and consumer follows), so the
/// model really has fewer channels, and the edits go into a compression manifest that every verb reloads.
/// </summary>
public static class PrunedChannelShrink
{
    /// <summary>The compressor name of the step in the manifest.</summary>
    public const string Step = "scheduled-pruning";

    /// <summary>
    /// Shrinks <paramref name="model"/> (pruning already permanent on <paramref name="targets"/>) in place and saves it as
    /// <paramref name="manifestPath"/> with its weights beside it. A channel survives when any producer of its group keeps a
    /// nonzero weight in it, or is no target; groups the graph cannot shrink (the output layer, blocked groups) keep theirs.
    /// </summary>
    /// <returns>The saved manifest, or null when no channel could be removed (nothing is written).</returns>
    public static CompressionManifest? ShrinkAndSave(torch.nn.Module<torch.Tensor, torch.Tensor> model, ModelIdentity identity,
        IReadOnlyList<(torch.nn.Module Module, string Name)> targets, string manifestPath, string weightsPath, double score, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(targets);
        var shape = identity.InputShape;
        var original = ModelMeasurer.Size(model, shape, double.NaN, double.NaN);
        var paths = new Dictionary<torch.nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in model.named_modules()) paths.TryAdd(module, name);
        var weights = targets.ToDictionary(t => paths[t.Module], t => t.Module.get_parameter(t.Name)!, StringComparer.Ordinal);
        // Exactly the surviving channels: no rounding up to multiples.
        var editor = new ModelEditor(model, shape, new ShrinkOptions { RoundTo = 1 }, logger: logger);
        var alive = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        using (var scope = torch.NewDisposeScope())
            foreach (var (path, w) in weights)
                alive[path] = w.detach().reshape(w.shape[0], -1).ne(0).any(1).data<bool>().ToArray();
        var kept = KeptByGroup(editor.ChannelGroups, alive, logger);
        if (kept.Count == 0) return null;
        editor.ShrinkChannels(kept);
        var after = ModelMeasurer.Size(model, shape, score, double.NaN);
        var manifest = new CompressionManifest
        {
            Model = identity,
            Original = original,
            Iterations =
            [
                new CompressionIteration
                {
                    Index = 1, Compressor = Step, TargetMacsRatio = (double)after.Macs / original.Macs, Edits = editor.Edits,
                    AfterCompress = after, AfterFinetune = after, Channels = ModelMeasurer.Channels(model, shape),
                    Summary = $"channels the schedule pruned removed from {kept.Count} group(s)",
                },
            ],
        };
        return CompressedModel.Save(manifestPath, weightsPath, manifest, model);
    }

    /// <summary>
    /// The channels the shrink keeps of each group some target produces, from each target's alive output channels (by
    /// module path): a channel survives when a producer covering it keeps it or is no target. Groups whose channels all
    /// survive are left out, and so are groups the graph cannot shrink (logged); a group keeps at least one channel.
    /// </summary>
    internal static Dictionary<string, bool[]> KeptByGroup(IReadOnlyList<ChannelGroupInfo> groups,
        IReadOnlyDictionary<string, bool[]> alive, ILogger logger)
    {
        var kept = new Dictionary<string, bool[]>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            if (!group.Producers.Any(alive.ContainsKey)) continue;
            var flags = new bool[group.Channels];
            foreach (var producer in group.Producers)
            {
                // A producer of a concatenation covers its slice of the axis: its channel j is group channel Offset + j.
                var slice = group.SliceOf(producer);
                if (!alive.TryGetValue(producer, out var own)) { Array.Fill(flags, true, slice.Offset, slice.Count); continue; }
                for (int j = 0; j < slice.Count && j < own.Length; j++) flags[slice.Offset + j] |= own[j];
            }
            if (flags.All(f => f)) continue;
            if (!group.IsPrunable)
            {
                logger.LogInformation("{Group}: {Pruned} of {Channels} channels pruned, kept in the model: {Why}.", group.Id,
                    flags.Count(f => !f), group.Channels, group.BlockedBy);
                continue;
            }
            if (!flags.Contains(true)) flags[0] = true;   // a layer keeps at least one channel
            kept[group.Id] = flags;
        }
        return kept;
    }
}
