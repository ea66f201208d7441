using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Trainer.Core.Search;

/// <summary>Settings of <see cref="GeneticSearch"/>.</summary>
public sealed record GeneticOptions
{
    /// <summary>Individuals per generation.</summary>
    public int PopulationSize { get; init; } = 20;

    /// <summary>Generations, the first (random) one included.</summary>
    public int Generations { get; init; } = 20;

    /// <summary>Individuals drawn per tournament; the fittest becomes a parent.</summary>
    public int TournamentSize { get; init; } = 3;

    /// <summary>Chance that two parents are crossed (uniform crossover) rather than copied.</summary>
    public double CrossoverRate { get; init; } = 0.9;

    /// <summary>Chance per gene of a Gaussian mutation.</summary>
    public double MutationRate { get; init; } = 0.2;

    /// <summary>Standard deviation of a mutation, in keep ratio.</summary>
    public double MutationSigma { get; init; } = 0.15;

    /// <summary>Best individuals copied unchanged into the next generation.</summary>
    public int Elites { get; init; } = 2;

    /// <summary>What the search maximises.</summary>
    public RewardKind Reward { get; init; } = RewardKind.Accuracy;

    /// <summary>Seed of every random choice.</summary>
    public int Seed { get; init; }

    /// <summary>Throws one clear exception for the first bad value.</summary>
    public void Validate()
    {
        if (PopulationSize < 2) throw new ArgumentOutOfRangeException(nameof(PopulationSize), PopulationSize, "at least 2 individuals");
        if (Generations < 1) throw new ArgumentOutOfRangeException(nameof(Generations), Generations, "at least one generation");
        if (TournamentSize < 1 || TournamentSize > PopulationSize)
            throw new ArgumentOutOfRangeException(nameof(TournamentSize), TournamentSize, $"the tournament size must be in [1, {PopulationSize}] (PopulationSize)");
        if (!(CrossoverRate >= 0 && CrossoverRate <= 1)) throw new ArgumentOutOfRangeException(nameof(CrossoverRate), CrossoverRate, "a rate is in [0, 1]");
        if (!(MutationRate >= 0 && MutationRate <= 1)) throw new ArgumentOutOfRangeException(nameof(MutationRate), MutationRate, "a rate is in [0, 1]");
        if (!(MutationSigma >= 0)) throw new ArgumentOutOfRangeException(nameof(MutationSigma), MutationSigma, "sigma must be at least 0");
        if (Elites < 0 || Elites >= PopulationSize)
            throw new ArgumentOutOfRangeException(nameof(Elites), Elites, $"elites must be in [0, {PopulationSize - 1}] (fewer than the population)");
    }
}

/// <summary>
/// A genetic algorithm over per-group keep ratios: a random first generation, every individual brought inside the budget by
/// <see cref="PolicySpace.Repair"/> (and written back, so genes are always feasible), tournament selection, uniform
/// crossover, Gaussian mutation and elitism; fitness is the reward of the scorer's score. Each generation's new policies go to
/// the scorer as one batch (<see cref="IPolicyScorer.ScoreAll"/>), so a parallel scorer runs them at once. A policy already
/// scored is not scored again (its trial is not repeated in the history).
/// </summary>
public static class GeneticSearch
{
    /// <summary>Searches per-group kept counts in <paramref name="space"/> that maximise the reward of <paramref name="scorer"/>.</summary>
    /// <returns>The best policy (method "genetic") and one trial per distinct policy scored.</returns>
    public static SearchResult Run(PolicySpace space, IPolicyScorer scorer, GeneticOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(scorer);
        options ??= new GeneticOptions();
        options.Validate();
        logger ??= NullLogger.Instance;
        var random = new Random(options.Seed);
        var log = new TrialLog("genetic", space);
        var cache = new Dictionary<string, double>();
        int n = space.Count;

        // A generation is drawn whole before any of it is scored (its draws depend only on the previous generation's
        // fitness), then its new policies go to the scorer as one batch: the trials are those of one-at-a-time scoring.
        List<(double[] Genes, double Fitness)> Score(List<double[]> ratios, int generation)
        {
            var kept = ratios.Select(space.Repair).ToList();
            var keys = kept.Select(k => string.Join(",", k)).ToList();
            var fresh = Enumerable.Range(0, kept.Count).Where(i => !cache.ContainsKey(keys[i]))
                .DistinctBy(i => keys[i]).ToList();
            var scores = fresh.Count == 0 ? [] : scorer.ScoreAll(fresh.Select(i => space.ById(kept[i])).ToList());
            for (int j = 0; j < fresh.Count; j++)
            {
                int i = fresh[j];
                double reward = PolicyReward.Of(options.Reward, scores[j], space.MacsOf(kept[i]));
                log.Add(generation, kept[i], scores[j].Score, reward);
                cache[keys[i]] = reward;
            }
            return kept.Select((k, i) => (k.Select((c, g) => (double)c / space.Groups[g].Channels).ToArray(), cache[keys[i]])).ToList();
        }

        var population = Score(Enumerable.Range(0, options.PopulationSize)
            .Select(_ => Enumerable.Range(0, n).Select(_ => space.Floor + random.NextDouble() * (1 - space.Floor)).ToArray()).ToList(), 0);
        Report(logger, 0, population);
        for (int generation = 1; generation < options.Generations; generation++)
        {
            // Stable order: the fittest first, earlier individuals first among equals.
            var ranked = population.Select((p, i) => (p, i)).OrderByDescending(x => x.p.Fitness).ThenBy(x => x.i).Select(x => x.p).ToList();
            var elites = ranked.Take(options.Elites).ToList();
            var children = new List<double[]>();
            while (elites.Count + children.Count < options.PopulationSize)
            {
                var a = Tournament(population, options.TournamentSize, random);
                var b = Tournament(population, options.TournamentSize, random);
                var child = new double[n];
                bool cross = random.NextDouble() < options.CrossoverRate;
                for (int i = 0; i < n; i++)
                {
                    child[i] = cross && random.NextDouble() < 0.5 ? b.Genes[i] : a.Genes[i];
                    if (random.NextDouble() < options.MutationRate)
                        child[i] = Math.Clamp(child[i] + options.MutationSigma * Gaussian(random), space.Floor, 1);
                }
                children.Add(child);
            }
            population = [.. elites, .. Score(children, generation)];
            Report(logger, generation, population);
        }
        return log.Result();
    }

    private static (double[] Genes, double Fitness) Tournament(List<(double[] Genes, double Fitness)> population, int size, Random random)
    {
        var best = population[random.Next(population.Count)];
        for (int i = 1; i < size; i++)
        {
            var other = population[random.Next(population.Count)];
            if (other.Fitness > best.Fitness) best = other;
        }
        return best;
    }

    private static double Gaussian(Random random)
    {
        double u1 = 1 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    private static void Report(ILogger logger, int generation, List<(double[] Genes, double Fitness)> population) =>
        logger.LogInformation("GA generation {Generation}: best fitness {Best:0.0000}, mean {Mean:0.0000}", generation,
            population.Max(p => p.Fitness), population.Average(p => p.Fitness));
}
