namespace Trainer.Core.Pruning.Schedules;

/// <summary>Which channels a structured criterion prunes next: the lowest-scored of those still alive.</summary>
public static class ChannelSelection
{
    /// <summary>
    /// The <paramref name="count"/> channels with the smallest <paramref name="scores"/> among the <paramref name="alive"/>
    /// ones, ascending by index; of two equal scores the lower index is kept (as <see cref="Analysis.Sensitivity.L1FilterPruner"/>).
    /// </summary>
    /// <exception cref="ArgumentException">The arrays differ in length or fewer channels are alive than asked for.</exception>
    public static int[] Smallest(IReadOnlyList<double> scores, IReadOnlyList<bool> alive, long count)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(alive);
        if (scores.Count != alive.Count)
            throw new ArgumentException($"{scores.Count} scores for {alive.Count} channels; give one score per channel.", nameof(scores));
        var candidates = Enumerable.Range(0, scores.Count).Where(c => alive[c]).ToList();
        if (count > candidates.Count)
            throw new ArgumentException($"Pruning {count} more channels, but only {candidates.Count} of {scores.Count} are left.", nameof(count));
        return candidates.OrderBy(c => scores[c]).ThenByDescending(c => c).Take((int)count).Order().ToArray();
    }
}
