using System.Globalization;
using Trainer.Abstractions.Compression;

namespace Plugins.ChannelPruning;

/// <summary>How many channels each group keeps, and how the counts were chosen (for the report).</summary>
/// <param name="Counts">Group id → kept channel count, for every group that will be pruned.</param>
/// <param name="Description">One sentence on how the counts were chosen.</param>
/// <param name="MacsBudget">For a uniform plan, the MACs the pruned model may have; null for explicit ratios.</param>
internal sealed record KeepPlan(IReadOnlyDictionary<string, int> Counts, string Description, double? MacsBudget = null);

/// <summary>
/// Chooses keep counts: the host's per-group ratios when given, else the per-layer "ratios" setting, else one uniform
/// keep ratio for every candidate group, the largest whose (rounded) counts bring the model's MACs to the FLOPs target.
/// </summary>
internal static class KeepCountAllocator
{
    private const int Bisections = 50;

    /// <summary>Kept channels for <paramref name="ratio"/> of <paramref name="channels"/>: rounded, at least one.</summary>
    public static int Count(double ratio, int channels) => Count(ratio, channels, 1);

    /// <summary>Kept channels for <paramref name="ratio"/> of <paramref name="group"/>'s channels: rounded, at least its
    /// <see cref="ChannelGroupInfo.MinKept"/> (one per slice of a sliced group).</summary>
    public static int Count(double ratio, ChannelGroupInfo group) => Count(ratio, group.Channels, group.MinKept);

    private static int Count(double ratio, int channels, int min) =>
        Math.Clamp((int)Math.Round(ratio * channels, MidpointRounding.AwayFromZero), Math.Min(min, channels), channels);

    /// <summary>Plans the counts of <paramref name="candidates"/> (prunable, not skipped groups).</summary>
    /// <exception cref="ArgumentException">The FLOPs target cannot be reached even with one channel per group.</exception>
    public static KeepPlan Plan(IModelEditor editor, IReadOnlyList<ChannelGroupInfo> candidates,
        IReadOnlyDictionary<string, double>? hostRatios, IReadOnlyDictionary<string, double> settingRatios, double targetFlopsRatio)
    {
        var explicitRatios = hostRatios ?? settingRatios;
        if (explicitRatios.Count > 0)
        {
            var counts = candidates.Where(g => explicitRatios.ContainsKey(g.Id))
                .ToDictionary(g => g.Id, g => Count(explicitRatios[g.Id], g));
            var source = hostRatios is not null ? "the host's per-group keep ratios" : "the per-layer 'ratios' setting";
            return new KeepPlan(counts, $"keep counts from {source} ({counts.Count} group(s)); the FLOPs target is not used");
        }

        long current = editor.Cost.Macs;
        double budget = targetFlopsRatio * current;
        if (candidates.Count == 0 || targetFlopsRatio >= 1)
            return new KeepPlan(new Dictionary<string, int>(), candidates.Count == 0 ? "no prunable group" : "FLOPs target 1: nothing to prune");

        var uniform = Uniform(editor, candidates, budget);
        if (uniform is null)
        {
            long smallest = editor.MacsIfKept(candidates.ToDictionary(g => g.Id, g => g.MinKept));
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"TargetFlopsRatio {targetFlopsRatio:0.###} cannot be reached: the fewest channels per prunable group (one, or one per slice) still leave " +
                $"{(double)smallest / current:P1} of the MACs ({smallest} of {current}); raise the target or prune more groups (skip_layers)."));
        }
        var (ratio, plan) = uniform.Value;
        long reached = editor.MacsIfKept(plan);
        return new KeepPlan(plan, string.Create(CultureInfo.InvariantCulture,
            $"uniform keep ratio {ratio:0.####} planned for {(double)reached / current:P2} of the {current} MACs (target {targetFlopsRatio:P2})"), budget);
    }

    /// <summary>
    /// The largest keep ratio whose rounded counts of <paramref name="groups"/> (the others as they are now) keep the model
    /// within <paramref name="macsBudget"/>, with those counts; null when even one channel per group exceeds it. Used
    /// again before each group, so that channels an editor adds by rounding, or an accuracy check keeps, are paid for by
    /// the groups still to prune.
    /// </summary>
    public static (double Ratio, Dictionary<string, int> Counts)? Uniform(IModelEditor editor, IReadOnlyList<ChannelGroupInfo> groups, double macsBudget)
    {
        Dictionary<string, int> Counts(double r) => groups.ToDictionary(g => g.Id, g => Count(r, g));
        if (editor.MacsIfKept(Counts(0)) > macsBudget) return null;
        double low = 0, high = 1; // Counts(low) fits the budget; Counts(high) does not.
        if (editor.MacsIfKept(Counts(1)) <= macsBudget) low = high;
        for (int i = 0; i < Bisections && high - low > 1e-6; i++)
        {
            double mid = (low + high) / 2;
            if (editor.MacsIfKept(Counts(mid)) <= macsBudget) low = mid; else high = mid;
        }
        return (low, Counts(low));
    }
}
