using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;

[assembly: Trainer.Abstractions.Compression.TrainerPlugin(ContractMajor = ContractVersion.Major)]

namespace Plugins.ChannelPruning;

/// <summary>
/// Channel pruning by LASSO channel selection and least-squares reconstruction (He, Zhang and Sun 2017, "Channel
/// Pruning for Accelerating Very Deep Neural Networks", as in AMC's channel_pruning). Group by group, in order: sample
/// each consumer (inputs from the model pruned so far, responses from the reference model), choose the channels whose
/// contributions best rebuild the responses under an L1 penalty, shrink the group through the editor, and refit the
/// consumers' kept weights by least squares. method=l1 keeps the largest-L1 filters instead, without reconstruction.
/// Settings: see <see cref="ChannelPruningSettings"/>.
/// </summary>
public sealed class ChannelPruningCompressor : ICompressor
{
    /// <inheritdoc />
    public string Name => "channel-pruning";

    /// <inheritdoc />
    public bool UsesGroupKeepRatios => true;

    /// <inheritdoc />
    public void CheckSettings(IReadOnlyDictionary<string, string> settings) => ChannelPruningSettings.Read(settings, Name);

    /// <inheritdoc />
    public CompressionResult Compress(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var settings = ChannelPruningSettings.Read(request.Settings, Name);
        Validate(request, settings);

        var groups = request.Editor.ChannelGroups;
        var names = new GroupNames(groups);
        var skipped = settings.SkipLayers.Select(n => names.Resolve(n, "Compression:Settings:skip_layers").Id).ToHashSet(StringComparer.Ordinal);
        var ratios = names.ResolveRatios(settings.Ratios, "Compression:Settings:ratios");
        var hostRatios = request.GroupKeepRatios is null ? null : CheckHostRatios(request.GroupKeepRatios, names);
        var candidates = groups.Where(g => g.IsPrunable && !skipped.Contains(g.Id)).ToList();
        var plan = KeepCountAllocator.Plan(request.Editor, candidates, hostRatios, ratios, request.TargetFlopsRatio);
        request.Logger.LogInformation("{Compressor} ({Method}): {Plan}", Name, settings.Method, plan.Description);

        var pruner = new GroupPruner(request, settings);
        // Every sampling problem shows up here, before the first edit, so a failure leaves the model untouched.
        var lassoBlockers = settings.Method == SelectionMethod.Lasso
            ? plan.Counts.Keys.ToDictionary(id => id, pruner.WhyNotLasso)
            : [];
        var before = request.Editor.Cost;
        var notes = new List<LayerNote>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var group in groups)
        {
            if (!group.IsPrunable) notes.Add(new LayerNote(group.Id, $"not pruned: {group.BlockedBy}"));
            else if (skipped.Contains(group.Id)) notes.Add(new LayerNote(group.Id, "not pruned: listed in skip_layers"));
            else if (!plan.Counts.TryGetValue(group.Id, out var planned)
                     || Math.Min(planned, Replanned(request.Editor, plan, group.Id, done) ?? planned) is var count && count >= group.Channels)
                notes.Add(new LayerNote(group.Id, $"not pruned: keeps its {group.Channels} channels"));
            else
            {
                var note = pruner.Prune(group.Id, count, lassoBlockers.GetValueOrDefault(group.Id));
                done.Add(group.Id);
                request.Logger.LogInformation("{Group}: {Note}", note.Layer, note.Note);
                notes.Add(note);
            }
        }

        var after = request.Editor.Cost;
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{Name} ({settings.Method.ToString().ToLowerInvariant()}{(settings.Method == SelectionMethod.Lasso && settings.Reconstruct ? " + least-squares reconstruction" : "")}): " +
            $"MACs {before.Macs} -> {after.Macs} ({(double)after.Macs / before.Macs:P1}), params {before.Params} -> {after.Params}; {plan.Description}" +
            $"{(plan.MacsBudget is { } budget && after.Macs > budget ? $"; the target is missed by {after.Macs - budget:0} MACs (the editor rounded kept counts up after the last group)" : "")}.");
        request.Logger.LogInformation("{Summary}", summary);
        return new CompressionResult(request.Model, notes, summary);
    }

    /// <summary>For a uniform plan, the count of <paramref name="groupId"/> planned again on the current model for the
    /// groups not yet pruned; null for explicit ratios or when the budget is out of reach (the first plan's count stands).
    /// The caller only ever lowers a count with it: channels the editor added by rounding (or an accuracy check kept) are
    /// paid for by the groups still to prune, while a plan that fits stays uniform.</summary>
    private static int? Replanned(IModelEditor editor, KeepPlan plan, string groupId, HashSet<string> done)
    {
        if (plan.MacsBudget is not { } budget) return null;
        var remaining = editor.ChannelGroups.Where(g => plan.Counts.ContainsKey(g.Id) && !done.Contains(g.Id)).ToList();
        return KeepCountAllocator.Uniform(editor, remaining, budget)?.Counts[groupId];
    }

    /// <summary>Checks what the settings reader cannot: the request's own fields and what the method needs.</summary>
    private static void Validate(CompressionRequest request, ChannelPruningSettings settings)
    {
        if (!(request.TargetFlopsRatio > 0 && request.TargetFlopsRatio <= 1))
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"TargetFlopsRatio is {request.TargetFlopsRatio}, but it must be in (0, 1] (the fraction of MACs to keep)."));
        if (settings.AccuracyFirst && request.EvaluateScore is null)
            throw new ArgumentException("Compression:Settings:accuracy_first is true but the host gives no validation data " +
                                        "(CompressionRequest.EvaluateScore is null); provide validation data or set accuracy_first=false.");
        if (settings.Method != SelectionMethod.Lasso) return;
        var data = request.TrainingData;
        if (data is null || data.SampleCount == 0 || data.BatchCount == 0)
            throw new ArgumentException("method=lasso samples the layers on training data, but the request has none " +
                                        "(CompressionRequest.TrainingData); provide training data or use Compression:Settings:method=l1.");
    }

    private static Dictionary<string, double> CheckHostRatios(IReadOnlyDictionary<string, double> ratios, GroupNames names)
    {
        foreach (var (id, ratio) in ratios)
            if (!(ratio > 0 && ratio <= 1))
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                    $"GroupKeepRatios: keep ratio {ratio} of group '{id}' must be in (0, 1]."));
        return names.ResolveRatios(ratios, "GroupKeepRatios");
    }
}
