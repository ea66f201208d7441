using Trainer.Core.Search;
using Xunit.Abstractions;

namespace Trainer.Core.Tests.Search;

public sealed class AmcSearchTests(ITestOutputHelper output)
{
    private static readonly DdpgOptions Short = new() { Episodes = 150, WarmupEpisodes = 30, Seed = 1 };

    [Fact]
    public void TheAgentLearnsAPolicyThatBeatsUniformAndRandomOnASyntheticScore()
    {
        var space = SearchFixtures.FashionSpace();
        var result = AmcSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), Short);

        double uniform = SearchFixtures.Synthetic(space.ById(space.Uniform()));
        double random = SearchFixtures.RandomMean(space, 500, 9);
        double warmupBest = result.History.Take(Short.WarmupEpisodes).Max(t => t.Score);
        double lastTen = result.History.TakeLast(10).Average(t => t.Score);
        output.WriteLine($"uniform {uniform:0.0000}, random mean {random:0.0000}, warm-up best {warmupBest:0.0000}, " +
                         $"AMC best {result.Best.Score:0.0000} ({string.Join(",", result.Best.Groups.Select(g => g.Kept))}), last ten {lastTen:0.0000}");
        Assert.Equal(150, result.History.Count);
        Assert.All(result.History, t => Assert.True(t.Macs <= space.Budget));
        Assert.True(result.Best.Score > uniform + 0.15, $"best {result.Best.Score} vs uniform {uniform}");
        Assert.True(result.Best.Score > random + 0.15, $"best {result.Best.Score} vs random {random}");
        // The learned policy itself, not only its luckiest episode: the last episodes beat random on average.
        Assert.True(lastTen > random + 0.1, $"last ten {lastTen} vs random {random}");
        Assert.Equal(32, result.Best.KeptChannels["conv1"]);
        // The optimum keeps conv1 whole and conv3 at its floor (26 of 128): 0.5 + 0.3 - 0.3 * 26 / 128 = 0.7391.
        Assert.InRange(result.Best.Score, 0.72, 0.7391);
    }

    [Fact]
    public void SeededRunsRepeatExactlyAndOtherSeedsDiffer()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new FuncPolicyScorer(SearchFixtures.Synthetic);
        var options = new DdpgOptions { Episodes = 40, WarmupEpisodes = 10, Seed = 4 };
        var a = AmcSearch.Run(space, scorer, options);
        var b = AmcSearch.Run(space, scorer, options);
        var c = AmcSearch.Run(space, scorer, options with { Seed = 5 });
        Assert.Equal(a.History.Select(Key), b.History.Select(Key));
        Assert.Equal(a.Best.Reward, b.Best.Reward);
        Assert.NotEqual(a.History.Select(Key), c.History.Select(Key));
        // Past warm-up the actor decides: its episodes are not the warm-up's random ones repeated.
        Assert.Equal(40, a.History.Count);
        Assert.Equal(Enumerable.Range(0, 40), a.History.Select(t => t.Round));

        static string Key(TrialRecord t) => $"{t.Reward:R}|{string.Join(",", t.Kept)}";
    }

    [Fact]
    public void TheErrorLogMacsRewardIsAmcsAndBadOptionsAreOneClearError()
    {
        var space = SearchFixtures.FashionSpace();
        var result = AmcSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic),
            new DdpgOptions { Episodes = 3, WarmupEpisodes = 3, Reward = RewardKind.ErrorLogMacs });
        foreach (var t in result.History) Assert.Equal(-(1 - t.Score) * Math.Log(t.Macs), t.Reward, 12);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() =>
            AmcSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), new DdpgOptions { Episodes = 5, WarmupEpisodes = 6 }));
        Assert.Contains("WarmupEpisodes", error.Message);
        var noParams = Assert.Throws<ArgumentException>(() => AmcSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic),
            new DdpgOptions { Episodes = 1, WarmupEpisodes = 1, Reward = RewardKind.ErrorLogParams }));
        Assert.Contains("parameter count", noParams.Message);
    }
}
