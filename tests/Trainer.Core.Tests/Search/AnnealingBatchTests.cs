using Trainer.Core.Search;

namespace Trainer.Core.Tests.Search;

/// <summary>Simulated annealing scoring k neighbours speculatively per batch walks the one-at-a-time search's trajectory.</summary>
public sealed class AnnealingBatchTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void SpeculativeBatchesOfNeighboursGiveTheSameTrialsAndBestPolicyAsOneMoveAtATime(int seed)
    {
        var space = SearchFixtures.FashionSpace();
        var sequential = new CountingScorer();
        var one = SimulatedAnnealingSearch.Run(space, sequential, new AnnealingOptions { Seed = seed });
        var batched = new CountingScorer();
        var four = SimulatedAnnealingSearch.Run(space, batched, new AnnealingOptions { Seed = seed, Neighbours = 4 });

        Assert.Equal(one.History.Select(Key), four.History.Select(Key));
        Assert.Equal(one.Best.KeptChannels, four.Best.KeptChannels);
        Assert.Equal(one.Best.Reward, four.Best.Reward);
        // One move per batch against up to four; the discarded speculative moves are scored but not trials.
        Assert.All(sequential.Batches, b => Assert.Equal(1, b));
        Assert.All(batched.Batches, b => Assert.InRange(b, 1, 4));
        Assert.Contains(batched.Batches, b => b > 1);
        Assert.True(batched.Batches.Count < sequential.Batches.Count, $"{batched.Batches.Count} batches vs {sequential.Batches.Count}");
        Assert.True(batched.Batches.Sum() >= four.History.Count);

        static string Key(TrialRecord t) => $"{t.Index}|{t.Reward:R}|{string.Join(",", t.Kept)}";
    }

    [Fact]
    public void NeighboursBelowOneAreRefused() =>
        Assert.Contains("neighbours 0", Assert.Throws<ArgumentException>(() => SimulatedAnnealingSearch.Run(SearchFixtures.FashionSpace(),
            new CountingScorer(), new AnnealingOptions { Neighbours = 0 })).Message);

    /// <summary>The synthetic score times 1000: differences of tens against temperatures of 20 to 100 reject
    /// some moves (on a [0, 1] scale NNI's temperatures accept nearly every move, and speculation would never skip one).</summary>
    private sealed class CountingScorer : IPolicyScorer
    {
        public List<int> Batches { get; } = [];

        public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) => ScoreAll([keptChannels])[0];

        public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
        {
            Batches.Add(policies.Count);
            return policies.Select(p => new PolicyScore(1000 * SearchFixtures.Synthetic(p))).ToList();
        }
    }
}
