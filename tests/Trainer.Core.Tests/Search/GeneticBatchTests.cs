using System.Security.Cryptography;
using System.Text;
using Trainer.Core.Search;

namespace Trainer.Core.Tests.Search;

/// <summary>The genetic search hands each generation to the scorer as one batch, and its seeded trials are those of the
/// search that scored individuals one at a time.</summary>
public sealed class GeneticBatchTests
{
    private static readonly GeneticOptions Small = new() { PopulationSize = 16, Generations = 12, Seed = 2 };

    [Fact]
    public void SeededTrialsEqualTheOneAtATimeSearchsRecordedTrials()
    {
        // Recorded from the search before batching (commit 3e8bdec): 132 trials, the best policy and a hash of every trial.
        var space = SearchFixtures.FashionSpace();
        var result = GeneticSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), Small);
        var history = string.Join("\n", result.History.Select(t => $"{t.Round}|{t.Reward:R}|{string.Join(",", t.Kept)}"));
        Assert.Equal(132, result.History.Count);
        Assert.Equal([32, 15, 26, 137], result.Best.Groups.Select(g => g.Kept));
        Assert.Equal(0.7390625000000001, result.Best.Reward);
        Assert.Equal("DA3393E4974092FC", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(history)))[..16]);
    }

    [Fact]
    public void EachGenerationIsOneBatchOfItsNewDistinctPolicies()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new RecordingScorer();
        var result = GeneticSearch.Run(space, scorer, Small);
        // One batch per generation at most (a generation of only known policies needs none), none empty, each policy
        // scored once over the whole search, and the trials are the batches' policies in order.
        Assert.InRange(scorer.Batches.Count, 2, Small.Generations);
        Assert.Equal(Small.PopulationSize, scorer.Batches[0].Count);
        Assert.All(scorer.Batches, b => Assert.InRange(b.Count, 1, Small.PopulationSize - (b == scorer.Batches[0] ? 0 : Small.Elites)));
        var all = scorer.Batches.SelectMany(b => b).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.Equal(all, result.History.Select(t => string.Join(",", t.Kept)));
        Assert.Equal(result.History.Count, scorer.Batches.Sum(b => b.Count));
    }

    private sealed class RecordingScorer : IPolicyScorer
    {
        public List<List<string>> Batches { get; } = [];

        public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) => throw new InvalidOperationException("the search scores in batches");

        public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
        {
            Batches.Add(policies.Select(p => string.Join(",", new[] { "conv1", "conv2", "conv3", "fc1" }.Select(g => p[g]))).ToList());
            return policies.Select(p => new PolicyScore(SearchFixtures.Synthetic(p))).ToList();
        }
    }
}
