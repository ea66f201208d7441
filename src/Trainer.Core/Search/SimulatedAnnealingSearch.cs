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

    /// <summary>Neighbours of the current policy scored speculatively in one batch (as many as trials can run in parallel):
    /// the Metropolis rule is applied to them in order, the first accepted one wins and the rest are discarded, so the search
    /// walks the same trials whatever this is; 1 scores one move at a time.</summary>
    public int Neighbours { get; init; } = 1;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range.</exception>
    public void Validate()
    {
        if (!(StartTemperature > StopTemperature) || !(StopTemperature > 0))
            throw new ArgumentException($"temperatures start {StartTemperature}, stop {StopTemperature}: need start > stop > 0");
        if (CoolDownRate is <= 0 or >= 1) throw new ArgumentException($"cool-down rate {CoolDownRate}: need a factor in (0, 1)");
        if (PerturbationMagnitude is <= 0 or > 1) throw new ArgumentException($"perturbation magnitude {PerturbationMagnitude}: need (0, 1]");
        if (MaxTrials < 1) throw new ArgumentException($"max trials {MaxTrials}: need 1 or more");
        if (Neighbours < 1) throw new ArgumentException($"neighbours {Neighbours}: need 1 or more moves per batch");
    }
}

/// <summary>
/// NNI's SimulatedAnnealingPruner (v2.10, SimulatedAnnealingTaskGenerator) over the search space's groups: per-group
/// sparsities (fractions of channels removed) are drawn uniformly, sorted and given so the larger groups (by weights) get
/// the larger ones, and rescaled by one common factor so the policy uses the MACs budget; each move perturbs the current
/// sparsities by up to PerturbationMagnitude · T/T₀, rescales them again, and is accepted when its reward is higher or
/// with probability exp(−|Δ|/T); the temperature cools by CoolDownRate at each accepted move until it falls below
/// StopTemperature. NNI rescales weight sparsity linearly; here the common factor is found by bisection on the exact MACs.
/// With <see cref="AnnealingOptions.Neighbours"/> above 1, that many moves from the current policy are scored in one batch
/// (<see cref="IPolicyScorer.ScoreAll"/>) and judged in order; the trajectory is the one-at-a-time search's.
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

        // Each trial's move and acceptance draw come from generators seeded by (seed, trial), not from one shared stream, so
        // a move drawn speculatively and discarded leaves the draws of the trials after it unchanged.
        (int[] Kept, double[] Sparsity, double Reward)? current = null;
        double temperature = options.StartTemperature;
        int trial = 0;
        while (trial < options.MaxTrials && temperature >= options.StopTemperature)
        {
            var moves = new List<(int[] Kept, double[] Sparsity)>();
            bool stuck = false;
            if (current is null) moves.Add(candidate.Value);
            else
            {
                double magnitude = temperature / options.StartTemperature * options.PerturbationMagnitude;
                for (int j = 0; j < options.Neighbours && trial + j < options.MaxTrials && !stuck; j++)
                {
                    var move = Move(space, bySize, current.Value.Sparsity, magnitude, TrialRandom(options.Seed, trial + j, 1));
                    if (move is { } m) moves.Add(m);
                    else stuck = true;
                }
            }
            var scores = moves.Count == 0 ? [] : scorer.ScoreAll(moves.Select(m => space.ById(m.Kept)).ToList());
            bool accepted = false;
            for (int j = 0; j < moves.Count && !accepted; j++, trial++)
            {
                var (kept, sparsity) = moves[j];
                double reward = PolicyReward.Of(options.Reward, scores[j], space.MacsOf(kept));
                log.Add(trial, kept, scores[j].Score, reward);
                accepted = current is null;
                if (current is { } c)
                {
                    double probability = Math.Exp(-Math.Abs(reward - c.Reward) / temperature);
                    accepted = c.Reward < reward || TrialRandom(options.Seed, trial, 2).NextDouble() < probability;
                    if (accepted) temperature *= options.CoolDownRate;
                }
                if (accepted) current = (kept, sparsity, reward);
                logger.LogInformation("SA trial {Trial}: reward {Reward:0.0000}, score {Score:0.0000}, MACs {Ratio:0.000}, {Verdict}, temperature {T:0.##}",
                    trial, reward, scores[j].Score, (double)space.MacsOf(kept) / space.FullMacs, accepted ? "accepted" : "rejected", temperature);
            }
            // No legal move from the current policy: the one-at-a-time search stops there too.
            if (!accepted && stuck) break;
        }
        return log.Result();
    }

    /// <summary>A move from <paramref name="sparsity"/>: each sparsity perturbed by up to ±<paramref name="magnitude"/>, then
    /// rescaled; null when 1000 draws give no legal policy.</summary>
    private static (int[] Kept, double[] Sparsity)? Move(PolicySpace space, int[] bySize, double[] sparsity, double magnitude, Random random)
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            var moved = sparsity.Select(s => Math.Max(0, s + (2 * random.NextDouble() - 1) * magnitude)).ToArray();
            if (Rescale(space, bySize, moved) is { } legal) return legal;
        }
        return null;
    }

    /// <summary>The generator of trial <paramref name="trial"/>'s draws of kind <paramref name="stream"/> (1 moves, 2
    /// acceptance): SplitMix64 of the three, so it does not depend on the order trials are drawn in.</summary>
    private static Random TrialRandom(int seed, int trial, int stream)
    {
        ulong z = unchecked(((ulong)(uint)seed << 32 | (uint)trial) + (ulong)stream * 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return new Random((int)((z ^ (z >> 31)) & 0x7FFFFFFF));
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
