using Trainer.Core.Search;

namespace Trainer.Core.Tests.Search;

public sealed class FinalistSelectionTests
{
    /// <summary>Counts batches and records what a finalist scorer was asked.</summary>
    private sealed class RecordingScorer(Func<IReadOnlyDictionary<string, int>, double> score) : IPolicyScorer
    {
        public List<int> BatchSizes { get; } = [];
        public List<IReadOnlyDictionary<string, int>> Asked { get; } = [];

        public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels)
        {
            Asked.Add(keptChannels);
            return new PolicyScore(score(keptChannels));
        }

        public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
        {
            BatchSizes.Add(policies.Count);
            return policies.Select(Score).ToList();
        }
    }

    private static SearchResult Searched(PolicySpace space, params (double Reward, int[] Kept)[] trials)
    {
        var history = trials.Select((t, i) => new TrialRecord(i, i, t.Reward, t.Reward, space.MacsOf(t.Kept), t.Kept)).ToList();
        var best = history.MaxBy(t => t.Reward)!;
        return new SearchResult(new RatioPolicy("amc", space.Groups.Select((g, i) => new GroupKeep(g.Id, g.Channels, best.Kept[i])).ToList(),
            best.Macs, space.FullMacs, space.Budget, best.Score, best.Reward), history);
    }

    [Fact]
    public void TheShortlistHoldsTheBestDistinctPoliciesBestFirstAndTheFinalistScorerPicksTheWinner()
    {
        var space = SearchFixtures.FashionSpace();
        int[] a = [32, 30, 26, 60], b = [20, 40, 40, 60], c = [17, 35, 70, 80], d = [26, 26, 30, 100];
        // Trial 3 repeats trial 0's policy; trial 4 is the worst and is left out with count 3.
        var result = Searched(space, (0.80, a), (0.70, b), (0.75, c), (0.80, a), (0.10, d));
        // The finalist scorer prefers conv3 wide: c (70) over b (40) over a (26), the opposite of the search's order.
        var scorer = new RecordingScorer(k => k["conv3"] / 100.0);

        var final = FinalistSelection.Run(result, space, scorer, count: 3);

        Assert.Equal([3], scorer.BatchSizes);
        Assert.Equal([0, 2, 1], final.Finalists!.Select(t => t.Index));
        Assert.Equal([0.26, 0.70, 0.40], final.Finalists!.Select(t => t.Score));
        Assert.Equal(c, final.Best.Groups.Select(g => g.Kept));
        Assert.Equal(0.70, final.Best.Score);
        Assert.Equal(0.70, final.Best.Reward);
        Assert.Equal("amc", final.Best.Method);
        Assert.Same(result.History, final.History);
    }

    [Fact]
    public void FinalistRewardsFollowTheSearchRewardKindAndCountsAboveTheDistinctPoliciesTakeThemAll()
    {
        var space = SearchFixtures.FashionSpace();
        int[] a = [32, 30, 26, 60], b = [20, 40, 40, 60];
        var result = Searched(space, (0.5, a), (0.4, b), (0.5, a));
        var scorer = new RecordingScorer(k => k["conv1"] / 40.0);

        var final = FinalistSelection.Run(result, space, scorer, count: 10, RewardKind.ErrorLogMacs);

        Assert.Equal([2], scorer.BatchSizes);
        Assert.Equal(-(1 - 0.8) * Math.Log(space.MacsOf(a)), final.Finalists![0].Reward, 12);
        Assert.Equal(a, final.Best.Groups.Select(g => g.Kept));
        Assert.Throws<ArgumentOutOfRangeException>(() => FinalistSelection.Run(result, space, scorer, count: 0));
    }

    [Fact]
    public void FinalistsSurviveSavingAndLoadingAndAResultWithoutThemWritesNone()
    {
        var space = SearchFixtures.FashionSpace();
        var result = Searched(space, (0.5, [32, 30, 26, 60]), (0.4, [20, 40, 40, 60]));
        var final = FinalistSelection.Run(result, space, new RecordingScorer(k => k["conv2"] / 64.0), count: 2);
        var dir = Directory.CreateTempSubdirectory("finalists-");
        try
        {
            string withFinalists = Path.Combine(dir.FullName, "final.json"), without = Path.Combine(dir.FullName, "plain.json");
            final.Save(withFinalists);
            result.Save(without);
            var loaded = SearchResult.Load(withFinalists);
            Assert.Equal(final.Finalists!.Select(t => (t.Index, t.Score)), loaded.Finalists!.Select(t => (t.Index, t.Score)));
            Assert.Equal(final.Best.KeptChannels, loaded.Best.KeptChannels);
            Assert.DoesNotContain("finalists", File.ReadAllText(without), StringComparison.Ordinal);
            Assert.Null(SearchResult.Load(without).Finalists);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
