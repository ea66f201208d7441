using Trainer.Core.Search;
using Xunit.Abstractions;

namespace Trainer.Core.Tests.Search;

public sealed class SimulatedAnnealingSearchTests(ITestOutputHelper output)
{
    [Fact]
    public void EveryMoveMeetsTheBudgetAndTheSearchImprovesOnUniformForASyntheticScore()
    {
        var space = SearchFixtures.FashionSpace();
        var result = SimulatedAnnealingSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic), new AnnealingOptions { Seed = 1 });
        double uniform = SearchFixtures.Synthetic(space.ById(space.Uniform()));
        output.WriteLine($"uniform {uniform:0.0000}, SA best {result.Best.Score:0.0000} " +
                         $"({string.Join(",", result.Best.Groups.Select(g => g.Kept))}), trials {result.History.Count}");

        Assert.Equal("annealing", result.Best.Method);
        Assert.All(result.History, t => Assert.True(t.Macs <= space.Budget, $"trial {t.Index}: {t.Macs} > {space.Budget}"));
        // Rescaled to use the budget: every move keeps at least 90 % of the MACs the budget allows.
        Assert.All(result.History, t => Assert.True(t.Macs >= 0.9 * space.Budget, $"trial {t.Index}: {t.Macs} of {space.Budget}"));
        Assert.All(result.History, t => Assert.All(t.Kept.Select((k, i) => (k, i)),
            x => Assert.True(x.k >= Math.Floor(space.Floor * space.Groups[x.i].Channels))));
        Assert.True(result.Best.Score > uniform, $"best {result.Best.Score} vs uniform {uniform}");
    }

    [Fact]
    public void TheTemperatureCoolsAtEachAcceptedMoveUntilItFallsBelowTheStop()
    {
        // A score that rises with every trial: every move is accepted, so the temperature goes 100 · 0.9^k and falls below
        // 20 after the 16th accepted move: 17 trials (the first sets the current policy without cooling).
        int calls = 0;
        var space = SearchFixtures.FashionSpace();
        var result = SimulatedAnnealingSearch.Run(space, new FuncPolicyScorer(_ => ++calls / 1000.0), new AnnealingOptions { Seed = 5 });
        Assert.Equal(17, result.History.Count);
        Assert.Equal(17, calls);
    }

    [Fact]
    public void SeededRunsRepeatExactlyAndLargerGroupsLoseMoreChannels()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new FuncPolicyScorer(SearchFixtures.Synthetic);
        var a = SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { Seed = 3 });
        var b = SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { Seed = 3 });
        Assert.Equal(a.History.Select(t => string.Join(",", t.Kept)), b.History.Select(t => string.Join(",", t.Kept)));

        // NNI's rule: sorted sparsities, the largest to the group with the most weights.
        var first = a.History[0].Kept;
        var weights = Enumerable.Range(0, space.Count)
            .Select(i => (double)space.Groups[i].Channels * space.Shapes[i].InChannels * space.Shapes[i].Kernel * space.Shapes[i].Kernel).ToArray();
        int largest = Array.IndexOf(weights, weights.Max()), smallest = Array.IndexOf(weights, weights.Min());
        Assert.True((double)first[largest] / space.Groups[largest].Channels <= (double)first[smallest] / space.Groups[smallest].Channels + 1e-9);
    }

    [Fact]
    public void BadSettingsAreOneClearError()
    {
        var space = SearchFixtures.FashionSpace();
        var scorer = new FuncPolicyScorer(SearchFixtures.Synthetic);
        Assert.Contains("start > stop", Assert.Throws<ArgumentException>(() =>
            SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { StartTemperature = 10 })).Message);
        Assert.Contains("cool-down", Assert.Throws<ArgumentException>(() =>
            SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { CoolDownRate = 1 })).Message);
    }
}
