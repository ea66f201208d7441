using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>Settings of <see cref="NetAdaptSearch"/>; NNI v2.10's NetAdaptPruner defaults.</summary>
public sealed record NetAdaptOptions
{
    /// <summary>The resource step: each iteration removes this fraction of the model's full MACs (NNI's
    /// sparsity_per_iteration, 0.05, there a fraction of the weights).</summary>
    public double StepRatio { get; init; } = 0.05;

    /// <summary>What the search maximises among an iteration's candidates.</summary>
    public RewardKind Reward { get; init; } = RewardKind.Accuracy;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range.</exception>
    public void Validate()
    {
        if (StepRatio is <= 0 or >= 1 || double.IsNaN(StepRatio))
            throw new ArgumentException($"NetAdapt step {StepRatio}: need a fraction of the MACs in (0, 1), e.g. 0.05");
    }
}

/// <summary>
/// NetAdapt (Yang et al. 2018) as NNI v2.10's NetAdaptPruner runs it, over the search space's groups and exact MACs: the
/// resource step is ΔR = ⌊StepRatio · full MACs⌋; each iteration, for every group, one candidate narrows that group alone to
/// its largest kept count whose policy has at most R − ΔR MACs (R the current MACs); the candidates are short-term
/// finetuned and scored (all in one <see cref="IPolicyScorer.ScoreAll"/> batch), the best is kept and, through
/// <c>adopt</c>, becomes the model the next iteration prunes (NNI loads the chosen candidate's finetuned weights). A group
/// that cannot give up a step alone (its floor) gets no candidate; when no group can, the step is halved for the rest of
/// the search, as NNI does. The iterations stop once the MACs are within the budget.
/// </summary>
/// <remarks>Where this differs from NNI: the resource is the exact MACs of the whole policy (NNI estimates the weights a
/// layer and its successor lose), and the last iteration's target is clamped to the budget (max(R − ΔR, budget)), so the
/// search ends at the budget instead of overshooting by what is left of a step; NNI counts its iterations nominally
/// (current sparsity += step) and stops when that count reaches the target.</remarks>
public static class NetAdaptSearch
{
    /// <summary>Runs NetAdapt in <paramref name="space"/>, scoring candidates with <paramref name="scorer"/>.</summary>
    /// <param name="space">Groups, MACs and budget.</param>
    /// <param name="scorer">Scores candidates (for NetAdapt proper a <see cref="FinetuningPolicyScorer"/>, possibly journaled).</param>
    /// <param name="options">Step and reward.</param>
    /// <param name="adopt">Called with each iteration's chosen policy before the next iteration (e.g.
    /// <see cref="FinetuningPolicyScorer.Adopt"/>); null when the scorer has no state to carry.</param>
    /// <param name="logger">Receives one line per iteration.</param>
    /// <returns>The last chosen policy, which meets the budget (method "netadapt"), and every candidate scored (round =
    /// iteration).</returns>
    public static SearchResult Run(PolicySpace space, IPolicyScorer scorer, NetAdaptOptions? options = null,
        Action<IReadOnlyDictionary<string, int>>? adopt = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(scorer);
        options ??= new NetAdaptOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        var log = new TrialLog("netadapt", space);
        int n = space.Count;
        var kept = Enumerable.Range(0, n).Select(i => space.Options(i)[^1]).ToArray();
        long current = space.MacsOf(kept);
        long step = (long)(space.FullMacs * options.StepRatio);
        RatioPolicy chosen = RatioPolicy.Of("netadapt", space, kept, double.NaN, double.NaN);
        for (int iteration = 0; current > space.Budget;)
        {
            if (step < 1) throw new InvalidOperationException("NetAdapt's step fell below one MAC with no group able to narrow; the budget is unreachable");
            long target = Math.Max(current - step, space.Budget);
            var candidates = Candidates(space, kept, target);
            if (candidates.Count == 0)
            {
                step /= 2;
                logger.LogInformation("NetAdapt: no group can give up {Target} MACs alone; the step is halved to {Step}", current - target, step);
                continue;
            }
            var scores = scorer.ScoreAll(candidates.Select(c => space.ById(c.Kept)).ToList());
            int best = -1;
            double bestReward = double.NegativeInfinity;
            for (int c = 0; c < candidates.Count; c++)
            {
                double reward = PolicyReward.Of(options.Reward, scores[c], space.MacsOf(candidates[c].Kept));
                log.Add(iteration, candidates[c].Kept, scores[c].Score, reward);
                if (best < 0 || reward > bestReward) (best, bestReward) = (c, reward);
            }
            kept = candidates[best].Kept;
            current = space.MacsOf(kept);
            chosen = RatioPolicy.Of("netadapt", space, kept, scores[best].Score, bestReward);
            logger.LogInformation("NetAdapt iteration {Iteration}: {Candidates} candidates, narrowed {Group} to {Kept}; score {Score:0.0000}, MACs {Ratio:0.000} of the model",
                iteration, candidates.Count, space.Groups[candidates[best].Group].Id, kept[candidates[best].Group], scores[best].Score, (double)current / space.FullMacs);
            adopt?.Invoke(space.ById(kept));
            iteration++;
        }
        var history = log.Result().History;
        return new SearchResult(chosen, history);
    }

    /// <summary>For each group that can reach <paramref name="target"/> alone, the policy that narrows it to its largest such
    /// kept count (the others as they are), in group order.</summary>
    public static IReadOnlyList<(int Group, int[] Kept)> Candidates(PolicySpace space, IReadOnlyList<int> kept, long target)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(kept);
        var result = new List<(int, int[])>();
        for (int g = 0; g < space.Count; g++)
        {
            var trial = kept.ToArray();
            // MACs grow with the kept count: scan the options below the current one from the top for the first that fits.
            var options = space.Options(g);
            for (int o = options.Count - 1; o >= 0; o--)
            {
                if (options[o] >= kept[g]) continue;
                trial[g] = options[o];
                if (space.MacsOf(trial) <= target)
                {
                    result.Add((g, trial));
                    break;
                }
            }
        }
        return result;
    }
}
