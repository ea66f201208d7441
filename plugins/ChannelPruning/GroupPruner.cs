using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// Prunes one channel group: samples its consumers, chooses the kept channels (LASSO, or L1 when asked or when the
/// consumers are beyond the method), optionally checks the accuracy of the pruned model first, shrinks the group through
/// the editor, and refits the consumers' kept weights by least squares.
/// </summary>
internal sealed class GroupPruner(CompressionRequest request, ChannelPruningSettings settings)
{
    // Producer → the reference model's output channels it still has, for producers shrunk in this step: a later group's
    // consumer may be one of them (a residual block's second conv, a gate), and its reference responses keep them all.
    private readonly Dictionary<string, long[]> keptOutputs = new(StringComparer.Ordinal);

    private IModelEditor Editor => request.Editor;

    /// <summary>
    /// Why LASSO reconstruction cannot handle group <paramref name="groupId"/> (null when it can), checked before any edit:
    /// every consumer must be an ungrouped Conv2d or Linear (the layers the editor samples) reading the group's whole axis.
    /// Each consumer is also sampled once (one row), so a sampling problem is reported before the model changes.
    /// </summary>
    /// <exception cref="ArgumentException">The editor cannot sample a consumer with these settings.</exception>
    public string? WhyNotLasso(string groupId)
    {
        var group = Current(groupId);
        if (group.SliceConsumers.FirstOrDefault() is { Reads: { } reads } partial)
            return reads.Count == group.Channels
                ? $"consumer {partial.Layer} reads the group's channels at more than one place of its input, " +
                  "which one sampled reconstruction problem cannot describe"
                : $"consumer {partial.Layer} reads only channels [{reads.Offset}, {reads.Offset + reads.Count}) of the group's {group.Channels}, " +
                  "which one sampled reconstruction problem cannot describe";
        if (group.Consumers.Count == 0) return "the group has no Conv2d/Linear consumer to reconstruct";
        foreach (var consumer in group.Consumers)
        {
            var layer = WeightLayer.Find(request.Model, consumer.Layer);
            if (layer is null) return $"consumer {consumer.Layer} is not a convolution or Linear";
            if (!layer.IsSampled) return $"consumer {consumer.Layer} is a {layer.Type}; the editor samples Conv2d and Linear layers only";
            if (layer.Groups != 1) return $"consumer {consumer.Layer} is a grouped convolution (groups={layer.Groups})";
            try
            {
                Editor.Sample(consumer.Layer, settings.Sampling with { MaxRows = 1 }).Dispose();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(
                    $"method=lasso cannot sample layer {consumer.Layer} (consumer of group {group.Id}): {e.Message}. Check the training data and " +
                    "Compression:Settings:trainset_ratio / sampled_pixels_per_img, or use method=l1 or skip_layers for this group.", e);
            }
        }
        return null;
    }

    /// <summary>Prunes group <paramref name="groupId"/> to <paramref name="keepCount"/> channels and says what it did.</summary>
    /// <param name="groupId">The group.</param>
    /// <param name="keepCount">Channels to keep.</param>
    /// <param name="lassoBlocker">What <see cref="WhyNotLasso"/> said before the edits began (method=lasso only).</param>
    public LayerNote Prune(string groupId, int keepCount, string? lassoBlocker)
    {
        var group = Current(groupId);
        var text = new StringBuilder();
        bool lasso = settings.Method == SelectionMethod.Lasso && lassoBlocker is null;
        if (lassoBlocker is not null) text.Append($"L1 selection instead of LASSO ({lassoBlocker}); ");

        var problems = new List<ConsumerProblem>();
        try
        {
            Func<int, bool[]> select;
            if (lasso)
            {
                foreach (var consumer in group.Consumers)
                {
                    using var samples = Editor.Sample(consumer.Layer, settings.Sampling);
                    problems.Add(new ConsumerProblem(WeightLayer.Find(request.Model, consumer.Layer)!, consumer, group.Channels, samples,
                        keptOutputs.GetValueOrDefault(consumer.Layer)));
                }
                var gram = new double[group.Channels, group.Channels];
                var b = new double[group.Channels];
                foreach (var problem in problems) problem.AccumulateGram(gram, b);
                select = k => LassoChannelSelector.Select(gram, b, k, settings.LarsAlphaInit, group.Segments).Keep;
            }
            else
            {
                select = k => Trainer.Core.Search.GroupChannelSelection.Select(request.Model, group, k);
            }

            var keep = select(keepCount);
            if (settings.AccuracyFirst)
            {
                keep = new AccuracyGuard(request, settings, problems).Check(group, keep, select, text);
                if (keep is null) return new LayerNote(group.Id, text.ToString().TrimEnd(' ', ';'));
            }

            var shrink = Editor.ShrinkChannels(new Dictionary<string, bool[]> { [group.Id] = keep });
            var kept = shrink.KeptByGroup[group.Id];
            RecordKeptOutputs(group, kept);
            text.Insert(0, string.Create(CultureInfo.InvariantCulture,
                $"{ProducersPrefix(group)}{group.Channels} -> {kept.Count(k => k)} channels by {(lasso ? "LASSO" : "L1 norm")}" +
                $"{(kept.Count(k => k) != keep.Count(k => k) ? $" ({keep.Count(k => k)} chosen, rounded up by the editor)" : "")}; "));
            if (lasso) Reconstruct(groupId, kept, problems, text);
            return new LayerNote(group.Id, text.ToString().TrimEnd(' ', ';'));
        }
        finally
        {
            foreach (var problem in problems) problem.Dispose();
        }
    }

    /// <summary>Refits each consumer on the kept channels (when asked) and notes the reconstruction errors.</summary>
    private void Reconstruct(string groupId, bool[] kept, List<ConsumerProblem> problems, StringBuilder text)
    {
        var shrunk = Current(groupId);
        foreach (var problem in problems)
        {
            double before = problem.ErrorWithOriginalWeights(kept);
            text.Append(string.Create(CultureInfo.InvariantCulture, $"{problem.Layer.Name}: relative reconstruction error {before:0.0000}"));
            if (!settings.Reconstruct)
            {
                text.Append(" (no refit: reconstruct=false); ");
                continue;
            }
            using var refit = problem.Refit(kept);
            if (refit is null)
            {
                text.Append(string.Create(CultureInfo.InvariantCulture,
                    $", refit skipped: {problem.Rows} sampled rows for {problem.Unknowns(kept)} unknowns per output " +
                    $"(raise trainset_ratio or sampled_pixels_per_img); "));
                continue;
            }
            double after = problem.Error(kept, refit);
            // The shrink may have moved the group's inputs on the consumer (earlier concat inputs pruned) or replaced the module.
            var mapping = shrunk.Consumers.First(c => c.Layer == problem.Layer.Name);
            var layer = WeightLayer.Find(request.Model, problem.Layer.Name)!;
            layer.WriteInputBlock(mapping.Offset, refit);
            text.Append(string.Create(CultureInfo.InvariantCulture, $" -> {after:0.0000} after least-squares refit; "));
            request.Logger.LogDebug("{Consumer}: reconstruction error {Before:0.0000} -> {After:0.0000}", problem.Layer.Name, before, after);
        }
    }

    /// <summary>Narrows each producer's record of the reference outputs it still has to the channels of its slice kept now.</summary>
    private void RecordKeptOutputs(ChannelGroupInfo group, bool[] kept)
    {
        foreach (var producer in group.Producers)
        {
            var slice = group.SliceOf(producer);
            var before = keptOutputs.GetValueOrDefault(producer) ?? Enumerable.Range(0, slice.Count).Select(j => (long)j).ToArray();
            keptOutputs[producer] = before.Where((_, j) => kept[slice.Offset + j]).ToArray();
        }
    }

    /// <summary>"a+b: " naming the producers of a group with several; empty when the group id says it all.</summary>
    public static string ProducersPrefix(ChannelGroupInfo group) =>
        group.Producers.Count > 1 ? string.Join("+", group.Producers) + ": " : "";

    private ChannelGroupInfo Current(string groupId) =>
        Editor.ChannelGroups.FirstOrDefault(g => g.Id == groupId)
        ?? throw new InvalidOperationException($"Channel group {groupId} is no longer in the model.");
}
