using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>Settings of <see cref="SimulatedAnnealingSearch"/>; NNI v2.10's SimulatedAnnealingPruner defaults.</summary>
public sealed record AnnealingOptions
{
    /// <summary>Start temperature.</summary>
    public double StartTemperature { get; init; } = 100;

    /// <summary>The search stops when the temperature falls below this.</summary>
    public double StopTemperature { get; init; } = 20;

    /// <summary>The temperature is multiplied by this at each accepted move.</summary>
    public double CoolDownRate { get; init; } = 0.9;

    /// <summary>Largest perturbation of a sparsity at the start temperature; it shrinks with the temperature.</summary>
    public double PerturbationMagnitude { get; init; } = 0.35;

    /// <summary>At most this many trials, whatever the temperature (NNI cools only on accepted moves).</summary>
    public int MaxTrials { get; init; } = 200;

    /// <summary>What the search maximises.</summary>
    public RewardKind Reward { get; init; } = RewardKind.Accuracy;

    /// <summary>Seed of the draws.</summary>
    public int Seed { get; init; }

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range.</exception>
    public void Validate()
    {
        if (!(StartTemperature > StopTemperature) || !(StopTemperature > 0))
            throw new ArgumentException($"temperatures start {StartTemperature}, stop {StopTemperature}: need start > stop > 0");
        if (CoolDownRate is <= 0 or >= 1) throw new ArgumentException($"cool-down rate {CoolDownRate}: need a factor in (0, 1)");
        if (PerturbationMagnitude is <= 0 or > 1) throw new ArgumentException($"perturbation magnitude {PerturbationMagnitude}: need (0, 1]");
        if (MaxTrials < 1) throw new ArgumentException($"max trials {MaxTrials}: need 1 or more");
    }
}

/// <summary>
/// NNI's SimulatedAnnealingPruner (v2.10, SimulatedAnnealingTaskGenerator) over the search space's groups: per-group
/// sparsities (fractions of channels removed) are drawn uniformly, sorted and given so the larger groups (by weights) get
/// the larger ones, and rescaled by one common factor so the policy uses the MACs budget; each move perturbs the current
/// sparsities by up to PerturbationMagnitude · T/T₀, rescales them again, and is accepted when its reward is higher or
/// with probability exp(−|Δ|/T); the temperature cools by CoolDownRate at each accepted move until it falls below
/// StopTemperature. NNI rescales weight sparsity linearly; here the common factor is found by bisection on the exact MACs.
/// </summary>
public static class SimulatedAnnealingSearch
{
    /// <summary>Searches per-group kept counts in <paramref name="space"/> that maximise the reward of <paramref name="scorer"/>.</summary>
    /// <returns>The best policy (method "annealing") and one trial per move scored.</returns>
    public static SearchResult Run(PolicySpace space, IPolicyScorer scorer, AnnealingOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(scorer);
        options ??= new AnnealingOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        var random = new Random(options.Seed);
        var log = new TrialLog("annealing", space);
        int n = space.Count;
        // Groups from the fewest weights to the most: sorted sparsities go to them in that order (NNI's weights_numel order).
        var bySize = Enumerable.Range(0, n)
            .OrderBy(i => (double)space.Groups[i].Channels * space.Shapes[i].InChannels * space.Shapes[i].Kernel * space.Shapes[i].Kernel)
            .ThenBy(i => i).ToArray();

        // NNI's first draw: uniform sparsities from a rising lower limit until a rescaled draw is legal.
        (int[] Kept, double[] Sparsity)? candidate = null;
        for (double low = 0; candidate is null && low < 0.999;)
        {
            low = (1 - low) * 0.05 + low;
            candidate = Rescale(space, bySize, Enumerable.Range(0, n).Select(_ => low + random.NextDouble() * (1 - low)).ToArray());
        }
        if (candidate is null) throw new ArgumentException("no draw of sparsities meets the MACs budget within the floors");

        (int[] Kept, double[] Sparsity, double Reward)? current = null;
        double temperature = options.StartTemperature;
        for (int trial = 0; trial < options.MaxTrials && temperature >= options.StopTemperature; trial++)
        {
            var (kept, sparsity) = candidate.Value;
            var score = scorer.Score(space.ById(kept));
            double reward = PolicyReward.Of(options.Reward, score, space.MacsOf(kept));
            log.Add(trial, kept, score.Score, reward);
            bool accepted = current is null;
            if (current is { } c)
            {
                double probability = Math.Exp(-Math.Abs(reward - c.Reward) / temperature);
                accepted = c.Reward < reward || random.NextDouble() < probability;
                if (accepted) temperature *= options.CoolDownRate;
            }
            if (accepted) current = (kept, sparsity, reward);
            logger.LogInformation("SA trial {Trial}: reward {Reward:0.0000}, score {Score:0.0000}, MACs {Ratio:0.000}, {Verdict}, temperature {T:0.##}",
                trial, reward, score.Score, (double)space.MacsOf(kept) / space.FullMacs, accepted ? "accepted" : "rejected", temperature);

            double magnitude = temperature / options.StartTemperature * options.PerturbationMagnitude;
            candidate = null;
            for (int attempt = 0; candidate is null && attempt < 1000; attempt++)
            {
                var moved = current!.Value.Sparsity.Select(s => Math.Max(0, s + (2 * random.NextDouble() - 1) * magnitude)).ToArray();
                candidate = Rescale(space, bySize, moved);
            }
            if (candidate is null) break;
        }
        return log.Result();
    }

    /// <summary>Sorted sparsities given to the groups from smallest to largest, scaled by the smallest common factor that meets
    /// the budget; null when even the largest factor the floors allow does not.</summary>
    private static (int[] Kept, double[] Sparsity)? Rescale(PolicySpace space, int[] bySize, double[] draw)
    {
        int n = space.Count;
        var sorted = draw.Order().ToArray();
        var sparsity = new double[n];
        for (int j = 0; j < n; j++) sparsity[bySize[j]] = sorted[j];
        if (sparsity.All(s => s <= 0)) return null;
        double ceiling = Enumerable.Range(0, n).Where(i => sparsity[i] > 0).Min(i => (1 - space.Floor) / sparsity[i]);
        int[] At(double c) => Enumerable.Range(0, n).Select(i => space.KeptFor(i, 1 - c * sparsity[i])).ToArray();
        if (space.MacsOf(At(ceiling)) > space.Budget) return null;
        double lo = 0, hi = ceiling;   // At(hi) fits; find the smallest factor that still fits
        if (space.MacsOf(At(lo)) <= space.Budget) hi = lo;
        for (int i = 0; i < 50 && hi - lo > 1e-9; i++)
        {
            double mid = (lo + hi) / 2;
            if (space.MacsOf(At(mid)) <= space.Budget) hi = mid;
            else lo = mid;
        }
        var kept = At(hi);
        return (kept, sparsity.Select(s => s * hi).ToArray());
    }
}
