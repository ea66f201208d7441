using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// accuracy_first: before a group's pruning is committed, the task's validation score of the model with the group's dropped
/// channels masked (and the consumers refit) is measured; worse than the threshold (in the score's direction) the group
/// keeps more channels, halving the gap to full each time, and is left unpruned when no tried count meets the threshold.
/// </summary>
internal sealed class AccuracyGuard(CompressionRequest request, ChannelPruningSettings settings, IReadOnlyList<ConsumerProblem> problems)
{
    /// <summary>The flags to commit (possibly keeping more channels than <paramref name="keep"/>), or null to leave the
    /// group unpruned; what happened is appended to <paramref name="text"/>.</summary>
    public bool[]? Check(ChannelGroupInfo group, bool[] keep, Func<int, bool[]> select, StringBuilder text)
    {
        int planned = keep.Count(k => k), count = planned;
        while (true)
        {
            var score = request.Score;
            double value = Evaluate(group, keep);
            request.Logger.LogDebug("{Group}: {Score} with {Count} of {Channels} channels", group.Id, score.Format(value), count, group.Channels);
            if (score.Meets(value, settings.AccuracyThreshold))
            {
                text.Append(count == planned
                    ? string.Create(CultureInfo.InvariantCulture, $"{score.Format(value)} with the group pruned (threshold {settings.AccuracyThreshold:0.####}); ")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"kept {count} channels instead of the planned {planned} to hold {score.Format(value)} (threshold {settings.AccuracyThreshold:0.####}), above the FLOPs plan; "));
                return keep;
            }
            int next = count + (int)Math.Ceiling((group.Channels - count) / 2.0);
            if (next >= group.Channels)
            {
                text.Insert(0, string.Create(CultureInfo.InvariantCulture,
                    $"{GroupPruner.ProducersPrefix(group)}not pruned: {score.Format(value)} with {count} of {group.Channels} channels " +
                    $"is not {score.ThresholdWord} accuracy_threshold {settings.AccuracyThreshold:0.####}; "));
                return null;
            }
            count = next;
            keep = select(count);
        }
    }

    private double Evaluate(ChannelGroupInfo group, bool[] keep)
    {
        var refits = new Dictionary<string, Tensor>();
        try
        {
            if (settings.Reconstruct)
                foreach (var problem in problems)
                    if (problem.Refit(keep) is { } block) refits[problem.Layer.Name] = block;
            using var trial = new MaskedTrial(request.Model, group, keep, refits);
            return request.EvaluateScore!(request.Model);
        }
        finally
        {
            foreach (var block in refits.Values) block.Dispose();
        }
    }
}
