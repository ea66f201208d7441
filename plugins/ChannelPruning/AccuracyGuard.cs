using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// accuracy_first: before a group's pruning is committed, the validation accuracy of the model with the group's dropped
/// channels masked (and the consumers refit) is measured; under the threshold the group keeps more channels, halving
/// the gap to full each time, and is left unpruned when no tried count reaches the threshold.
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
            double accuracy = Evaluate(group, keep);
            request.Logger.LogDebug("{Group}: accuracy {Accuracy:P2} with {Count} of {Channels} channels", group.Id, accuracy, count, group.Channels);
            if (accuracy >= settings.AccuracyThreshold)
            {
                text.Append(count == planned
                    ? string.Create(CultureInfo.InvariantCulture, $"accuracy with the group pruned {accuracy:P2} (threshold {settings.AccuracyThreshold:P2}); ")
                    : string.Create(CultureInfo.InvariantCulture,
                        $"kept {count} channels instead of the planned {planned} to hold accuracy at {accuracy:P2} (threshold {settings.AccuracyThreshold:P2}), above the FLOPs plan; "));
                return keep;
            }
            int next = count + (int)Math.Ceiling((group.Channels - count) / 2.0);
            if (next >= group.Channels)
            {
                text.Insert(0, string.Create(CultureInfo.InvariantCulture,
                    $"{GroupPruner.ProducersPrefix(group)}not pruned: accuracy {accuracy:P2} with {count} of {group.Channels} channels " +
                    $"stays under accuracy_threshold {settings.AccuracyThreshold:P2}; "));
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
            return request.EvaluateAccuracy!(request.Model);
        }
        finally
        {
            foreach (var block in refits.Values) block.Dispose();
        }
    }
}
