using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>
/// A second, costlier look at a search's best trials: the <c>count</c> distinct policies with the highest rewards are scored
/// again by another scorer (typically a <see cref="FinetuningPolicyScorer"/>: a short finetuning before the score) and the one
/// it scores highest becomes the result. A cheap reward (the pruned copy's score, BatchNorm re-estimated) ranks hundreds of
/// trials; what finetuning will make of a policy is what the user keeps, and a short finetuning predicts it better, at a cost
/// only the shortlist pays (EagleEye, Li et al. 2020, and NetAdapt's short-term finetuning).
/// </summary>
public static class FinalistSelection
{
    /// <summary>Rescores the best <paramref name="count"/> distinct policies of <paramref name="result"/> with
    /// <paramref name="scorer"/> (one batch, so a parallel trial runner runs them side by side) and returns the result whose
    /// best policy is the finalist with the highest reward under it.</summary>
    /// <param name="result">A finished search (its history holds every trial).</param>
    /// <param name="space">The search's space (the history's kept counts are in its order).</param>
    /// <param name="scorer">Scores the finalists.</param>
    /// <param name="count">How many finalists; at least 1.</param>
    /// <param name="reward">The reward the finalists' scores are turned into (the search's).</param>
    /// <param name="logger">Receives one line per finalist.</param>
    /// <returns>The same history, <see cref="SearchResult.Finalists"/> in rank order of the search's reward (each record's score
    /// and reward the finalist scorer's, its index the trial's in the history), and the winner as
    /// <see cref="SearchResult.Best"/> (its score and reward the finalist scorer's; the first on a tie).</returns>
    public static SearchResult Run(SearchResult result, PolicySpace space, IPolicyScorer scorer, int count, RewardKind reward = RewardKind.Accuracy,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(scorer);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        logger ??= NullLogger.Instance;
        if (result.History.Count == 0) throw new ArgumentException("the search has no trial to choose finalists from", nameof(result));
        var shortlist = Shortlist(result.History, count);
        var scores = scorer.ScoreAll(shortlist.Select(t => space.ById(t.Kept)).ToList());
        if (scores.Count != shortlist.Count) throw new InvalidOperationException($"the scorer returned {scores.Count} scores for {shortlist.Count} finalists");
        var finalists = new List<TrialRecord>(shortlist.Count);
        int winner = 0;
        for (int i = 0; i < shortlist.Count; i++)
        {
            var trial = shortlist[i];
            double finalReward = PolicyReward.Of(reward, scores[i], trial.Macs);
            finalists.Add(trial with { Reward = finalReward, Score = scores[i].Score });
            if (finalReward > finalists[winner].Reward) winner = i;
            logger.LogInformation("Finalist {Rank} (trial {Index}, search reward {SearchReward:0.0000}): score {Score:0.0000}, reward {Reward:0.0000}",
                i + 1, trial.Index, trial.Reward, scores[i].Score, finalReward);
        }
        var best = finalists[winner];
        return result with
        {
            Best = RatioPolicy.Of(result.Best.Method, space, best.Kept, best.Score, best.Reward),
            Finalists = finalists,
        };
    }

    /// <summary>The <paramref name="count"/> trials of highest reward, one per distinct policy (its first trial), best first
    /// (earlier trials first on a tie).</summary>
    public static IReadOnlyList<TrialRecord> Shortlist(IReadOnlyList<TrialRecord> history, int count)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return history
            .Where(t => seen.Add(string.Join(',', t.Kept)))
            .OrderByDescending(t => t.Reward)
            .ThenBy(t => t.Index)
            .Take(count)
            .ToList();
    }
}
