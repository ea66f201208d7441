using Trainer.Core.Search;
using Xunit.Abstractions;

namespace Trainer.Core.Tests.Search;

public sealed class GeneticSearchTests(ITestOutputHelper output)
{
    private static readonly GeneticOptions Small = new() { PopulationSize = 16, Generations = 12, Seed = 2 };

    [Fact]
    public void TheGeneticSearchFindsAPolicyThatBeatsUniformAndRandomOnASyntheticScore()
    {
        var space = SearchFixtures.FashionSpace();
        var result = GeneticSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), Small);

        double uniform = SearchFixtures.Synthetic(space.ById(space.Uniform()));
        double random = SearchFixtures.RandomMean(space, 500, 9);
        double firstGeneration = result.History.Where(t => t.Round == 0).Average(t => t.Score);
        output.WriteLine($"uniform {uniform:0.0000}, random mean {random:0.0000}, first generation mean {firstGeneration:0.0000}, " +
                         $"GA best {result.Best.Score:0.0000} ({string.Join(",", result.Best.Groups.Select(g => g.Kept))}), trials {result.History.Count}");
        Assert.All(result.History, t => Assert.True(t.Macs <= space.Budget));
        Assert.True(result.Best.Score > uniform + 0.15, $"best {result.Best.Score} vs uniform {uniform}");
        Assert.True(result.Best.Score > random + 0.15, $"best {result.Best.Score} vs random {random}");
        Assert.True(result.Best.Score > result.History.Where(t => t.Round == 0).Max(t => t.Score), "evolution improved on the first generation");
        Assert.InRange(result.Best.Score, 0.72, 0.7391);
        // Distinct policies only: no trial repeats another's kept counts.
        Assert.Equal(result.History.Count, result.History.Select(t => string.Join(",", t.Kept)).Distinct().Count());
    }

    [Fact]
    public void SeededRunsRepeatExactlyAndOtherSeedsDiffer()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new FuncPolicyScorer(SearchFixtures.Synthetic);
        var a = GeneticSearch.Run(space, scorer, Small);
        var b = GeneticSearch.Run(space, scorer, Small);
        var c = GeneticSearch.Run(space, scorer, Small with { Seed = 3 });
        Assert.Equal(a.History.Select(Key), b.History.Select(Key));
        Assert.Equal(a.Best, b.Best, (x, y) => x.Reward == y.Reward && x.KeptChannels.SequenceEqual(y.KeptChannels));
        Assert.NotEqual(a.History.Select(Key), c.History.Select(Key));

        static string Key(TrialRecord t) => $"{t.Round}|{t.Reward:R}|{string.Join(",", t.Kept)}";
    }

    [Fact]
    public void BadSettingsAreOneClearError()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new FuncPolicyScorer(SearchFixtures.Synthetic);
        Assert.Contains("Elites", Assert.Throws<ArgumentOutOfRangeException>(() =>
            GeneticSearch.Run(space, scorer, new GeneticOptions { PopulationSize = 4, Elites = 4 })).Message);
        Assert.Contains("TournamentSize", Assert.Throws<ArgumentOutOfRangeException>(() =>
            GeneticSearch.Run(space, scorer, new GeneticOptions { PopulationSize = 4, TournamentSize = 5 })).Message);
    }
}
