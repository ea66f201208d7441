using Trainer.Core.Search;
using Xunit.Abstractions;

namespace Trainer.Core.Tests.Search;

public sealed class NetAdaptSearchTests(ITestOutputHelper output)
{
    /// <summary>Records the batches handed to it; refuses single scores, so a search that bypasses ScoreAll fails.</summary>
    private sealed class BatchRecorder(Func<IReadOnlyDictionary<string, int>, double> score) : IPolicyScorer
    {
        public List<int> Batches { get; } = [];

        public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) =>
            throw new InvalidOperationException("NetAdapt must hand its candidates over as one batch");

        public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
        {
            Batches.Add(policies.Count);
            return policies.Select(p => new PolicyScore(score(p))).ToList();
        }
    }

    [Fact]
    public void EachIterationNarrowsOneGroupByTheStepAndTheSearchEndsWithinTheBudget()
    {
        var space = SearchFixtures.FashionSpace(target: 0.5);
        var scorer = new BatchRecorder(SearchFixtures.Synthetic);
        var adopted = new List<IReadOnlyDictionary<string, int>>();
        var result = NetAdaptSearch.Run(space, scorer, new NetAdaptOptions { StepRatio = 0.05 }, adopted.Add);
        long step = (long)(space.FullMacs * 0.05);
        int rounds = result.History.Max(t => t.Round) + 1;
        output.WriteLine($"full {space.FullMacs}, budget {space.Budget}, step {step}, rounds {rounds}, final {string.Join(",", result.Best.Groups.Select(g => g.Kept))} at {result.Best.Macs}");

        // NNI's rule replayed from the history: each round's target is max(R − ΔR, budget); a candidate narrows one group to
        // its largest kept count within the target (one option more would not fit), and the best-scoring candidate is kept.
        var kept = space.Groups.Select(g => g.Channels).ToArray();
        for (int r = 0; r < rounds; r++)
        {
            long before = space.MacsOf(kept);
            Assert.True(before > space.Budget, $"round {r} ran although {before} <= {space.Budget}");
            long target = Math.Max(before - step, space.Budget);
            var trials = result.History.Where(t => t.Round == r).ToList();
            foreach (var t in trials)
            {
                var changed = Enumerable.Range(0, space.Count).Where(i => t.Kept[i] != kept[i]).ToList();
                int g = Assert.Single(changed);
                Assert.True(t.Macs <= target, $"round {r}: {t.Macs} > {target}");
                var wider = t.Kept.ToArray();
                wider[g] = space.Options(g).First(o => o > t.Kept[g]);
                Assert.True(wider[g] == kept[g] || space.MacsOf(wider) > target, $"round {r}: group {g} could keep {wider[g]}");
            }
            var best = trials.OrderByDescending(t => t.Reward).ThenBy(t => t.Index).First();
            kept = best.Kept.ToArray();
            Assert.Equal(space.ById(kept), adopted[r]);
        }
        Assert.Equal(kept, result.Best.Groups.Select(g => g.Kept));
        Assert.True(result.Best.Macs <= space.Budget, $"{result.Best.Macs} > {space.Budget}");
        Assert.Equal(rounds, adopted.Count);
        // One ScoreAll per iteration, each with every group's candidate of that round.
        Assert.Equal(rounds, scorer.Batches.Count);
        Assert.Equal(Enumerable.Range(0, rounds).Select(r => result.History.Count(t => t.Round == r)), scorer.Batches);
        Assert.Equal(result.History.Count, scorer.Batches.Sum());
    }

    [Fact]
    public void AScoreThatOnlyRewardsNarrowingConv3NarrowsConv3FirstAndLeavesConv1Whole()
    {
        var space = SearchFixtures.FashionSpace(target: 0.5);
        // Narrowing conv3 raises the score; any other narrowing lowers it, conv1's the most.
        double Score(IReadOnlyDictionary<string, int> k) =>
            1 - k["conv3"] / 128.0 - (32 - k["conv1"]) - 0.01 * (64 - k["conv2"]) - 0.001 * (256 - k["fc1"]);
        var result = NetAdaptSearch.Run(space, new FuncPolicyScorer(Score));
        var kept = result.Best.KeptChannels;
        output.WriteLine(string.Join(", ", result.Best.Groups.Select(g => $"{g.Id} {g.Kept}")) + $"; {result.History.Max(t => t.Round) + 1} rounds");
        var firsts = result.History.GroupBy(t => t.Round).Select(g => g.OrderByDescending(t => t.Reward).ThenBy(t => t.Index).First()).ToList();
        // Conv3 is chosen in every round while it has a candidate.
        foreach (var round in result.History.GroupBy(t => t.Round))
        {
            var chosen = round.OrderByDescending(t => t.Reward).ThenBy(t => t.Index).First();
            var conv3Candidate = round.Any(t => t.Kept[2] < (round.Key == 0 ? 128 : firsts[round.Key - 1].Kept[2]));
            if (conv3Candidate) Assert.True(chosen.Kept[2] < (round.Key == 0 ? 128 : firsts[round.Key - 1].Kept[2]), $"round {round.Key}");
        }
        // Conv3 goes down a step at a time until a step is more than conv3 alone can give (at 32 of 128, its floor being
        // 26); the last steps come from conv2, which costs less per MAC removed than fc1; conv1 is never touched.
        Assert.Equal([32, 52, 32, 256], result.Best.Groups.Select(g => g.Kept));
        Assert.True(result.Best.Macs <= space.Budget);
    }

    [Fact]
    public void AStepNoGroupCanGiveUpAloneIsHalvedUntilOneCanAsNniDoes()
    {
        // 0.9 of the MACs in one step, to 0.1: no single group can reach that alone (conv2 alone reaches 0.3).
        var space = SearchFixtures.FashionSpace(target: 0.1);
        var full = space.Groups.Select(g => g.Channels).ToArray();
        long step = (long)(space.FullMacs * 0.9);
        Assert.Empty(NetAdaptSearch.Candidates(space, full, Math.Max(space.FullMacs - step, space.Budget)));
        int halvings = 0;
        while (NetAdaptSearch.Candidates(space, full, Math.Max(space.FullMacs - step, space.Budget)).Count == 0) { step /= 2; halvings++; }

        var result = NetAdaptSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), new NetAdaptOptions { StepRatio = 0.9 });
        output.WriteLine($"{halvings} halvings; step {step}; {result.History.Max(t => t.Round) + 1} rounds");
        Assert.True(halvings >= 1);
        // The first round's candidates are those of the halved step, and every later round steps by at most that much.
        var first = result.History.Where(t => t.Round == 0).Select(t => string.Join(",", t.Kept));
        Assert.Equal(NetAdaptSearch.Candidates(space, full, space.FullMacs - step).Select(c => string.Join(",", c.Kept)), first);
        Assert.True(result.Best.Macs <= space.Budget);
    }
}
