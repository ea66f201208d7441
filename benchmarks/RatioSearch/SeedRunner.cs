using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Search;
using static TorchSharp.torch;

namespace Benchmarks.RatioSearch;

/// <summary>One row of the table: a method's best policy (or the uniform ratio) for one model and seed.</summary>
internal sealed record BenchRow(string Model, int Seed, string Method, RatioPolicy Policy, double TestBefore, double? TestAfter, int Trials, double Seconds)
{
    public double TrialsPerMinute => Seconds > 0 ? Trials / (Seconds / 60) : double.NaN;
}

/// <summary>What every seed of one model shares: the trained model, its search space, the scorers and the data.</summary>
internal sealed record ModelSetup(string Name, nn.Module<Tensor, Tensor> Model, Func<nn.Module<Tensor, Tensor>> Factory, long[] Shape,
    PolicySpace Space, HeldOutTask Task, IPolicyScorer Scorer, PrunedFinetune Tester, Func<int, Trainer.Core.Data.TensorBatchLoader> TrainLoader, IBatchLoader HeldOut);

/// <summary>Runs the uniform ratio and every chosen search for one seed, then prunes and finetunes each best policy.</summary>
internal static class SeedRunner
{
    public static List<BenchRow> Run(ModelSetup m, int seed, BenchOptions o, ILogger logger)
    {
        var found = new List<(string Method, RatioPolicy Policy, int Trials, double Seconds)>();
        var clock = Stopwatch.StartNew();
        using var train = m.TrainLoader(seed);
        // A scorer that trains each pruned copy `steps` plain-SGD steps on this seed's batches before scoring it.
        FinetuningPolicyScorer Finetuner(int steps) => new(m.Task, m.Factory, m.Model, m.Shape, train, m.HeldOut,
            new ShortTrainingOptions { Steps = steps, LearningRate = o.NetAdaptFinetuneLr, Seed = seed });
        // --reward-finetune-steps: the searches' trials (and the uniform row's held-out score) trained briefly before they are
        // scored, NetAdapt's short-term finetuning as the reward of AMC, GA and SA.
        using var rewardFinetuner = o.RewardFinetuneSteps > 0 ? Finetuner(o.RewardFinetuneSteps) : null;
        IPolicyScorer scorer = rewardFinetuner ?? m.Scorer;
        var uniform = m.Space.Uniform();
        double uniformScore = scorer.Score(m.Space.ById(uniform)).Score;
        found.Add(("uniform", new RatioPolicy("uniform", m.Space.Groups.Select((g, i) => new GroupKeep(g.Id, g.Channels, uniform[i])).ToList(),
            m.Space.MacsOf(uniform), m.Space.FullMacs, m.Space.Budget, uniformScore, uniformScore), 1, clock.Elapsed.TotalSeconds));
        var results = new Dictionary<string, SearchResult>();
        // --finalists K: the K best distinct policies of each search finetuned --finalist-steps steps and scored again; the best
        // of them is the method's policy (FinalistSelection).
        using var finalistScorer = o.Finalists > 0 ? Finetuner(o.FinalistSteps) : null;
        // Not NetAdapt's: its trials were pruned from the bases it adopted on its way, not from the trained model.
        // The search's own best is kept as a row "<method>-own" beside the finalists' winner, finetuned alike.
        SearchResult Finalized(string method, SearchResult result)
        {
            if (finalistScorer is null || method == "netadapt") return result;
            found.Add((method + "-own", result.Best, result.History.Count, double.NaN));
            return FinalistSelection.Run(result, m.Space, finalistScorer, o.Finalists, logger: logger);
        }
        void Search(string method, Func<SearchResult> run)
        {
            if (!o.Methods.Contains(method)) return;
            if (o.PoliciesDir is { } saved)
            {
                // --policies: the best policy an earlier run saved (--save-dir), finetuned again; its search figures are not re-measured.
                var earlier = Finalized(method, SearchResult.Load(Path.Combine(saved, $"{m.Name}-seed{seed}-{method}.json")));
                found.Add((method, earlier.Best, earlier.History.Count, double.NaN));
                logger.LogInformation("{Model} seed {Seed}: {Method} policy loaded from {Dir}: kept {Kept}", m.Name, seed, method, saved,
                    string.Join(",", earlier.Best.KeptChannels.Values));
                return;
            }
            logger.LogInformation("{Model} seed {Seed}: {Method} search", m.Name, seed, method);
            clock.Restart();
            var result = Finalized(method, run());
            double seconds = clock.Elapsed.TotalSeconds;
            results[method] = result;
            found.Add((method, result.Best, result.History.Count, seconds));
            logger.LogInformation("{Model} seed {Seed}: {Method} done, {Trials} trials in {Seconds:0.0} s, best held-out {Score:P2} at {Macs:P1} of the MACs",
                m.Name, seed, method, result.History.Count, seconds, result.Best.Score, result.Best.MacsRatio);
        }
        Search("amc", () => AmcSearch.Run(m.Space, scorer, new DdpgOptions { Episodes = o.Episodes, WarmupEpisodes = o.Warmup, Seed = seed }, logger));
        Search("genetic", () => GeneticSearch.Run(m.Space, scorer, new GeneticOptions { PopulationSize = o.Population, Generations = o.Generations, Seed = seed }, logger));
        Search("annealing", () => SimulatedAnnealingSearch.Run(m.Space, scorer, new AnnealingOptions { Seed = seed }, logger));
        Search("netadapt", () =>
        {
            using var finetuner = Finetuner(o.NetAdaptFinetuneSteps);
            return NetAdaptSearch.Run(m.Space, finetuner, new NetAdaptOptions { StepRatio = o.NetAdaptStep }, finetuner.Adopt, logger);
        });
        if (o.SaveDir is { } dir)
            foreach (var (method, result) in results) result.Save(Path.Combine(dir, $"{m.Name}-seed{seed}-{method}.json"));

        var rows = new List<BenchRow>();
        foreach (var (method, policy, trials, seconds) in found)
        {
            clock.Restart();
            var (before, after) = m.Tester.Run(policy.KeptChannels, train, o.FinetuneEpochs, seed);
            logger.LogInformation("{Model} seed {Seed}: {Method} test accuracy {Before:P2} before finetuning, {After} after {Epochs} epoch(s) ({Seconds:0} s)",
                m.Name, seed, method, before, after is { } a ? a.ToString("P2", System.Globalization.CultureInfo.InvariantCulture) : "-", o.FinetuneEpochs,
                clock.Elapsed.TotalSeconds);
            rows.Add(new BenchRow(m.Name, seed, method, policy, before, after, trials, seconds));
        }
        return rows;
    }
}
