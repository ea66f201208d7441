using System.Globalization;
using Trainer.Core.Analysis;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Search;

namespace Trainer.Core.Tests.Search;

public sealed class PolicySpaceTests
{
    [Fact]
    public void GroupsComeInExecutionOrderWithAmcsLayerDescription()
    {
        var space = SearchFixtures.FashionSpace();
        Assert.Equal(["conv1", "conv2", "conv3", "fc1"], space.Groups.Select(g => g.Id));
        Assert.Equal([32, 64, 128, 256], space.Groups.Select(g => g.Channels));
        Assert.Equal(new GroupShape(0, 1, 1, 3), space.Shapes[0]);
        Assert.Equal(new GroupShape(0, 64, 1, 3), space.Shapes[2]);
        Assert.Equal(new GroupShape(1, 6272, 0, 1), space.Shapes[3]);
        Assert.Equal((long)Math.Floor(0.3 * space.FullMacs), space.Budget);
        // Floor 0.2 of 32 channels is 6.4: the lowest option is 7.
        Assert.Equal(7, space.Options(0)[0]);
        Assert.Equal(32, space.Options(0)[^1]);
        Assert.Equal(26, space.Options(0).Count);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void EveryRandomEpisodeEndsWithinTheBudgetInExactMacs(int roundTo)
    {
        var space = SearchFixtures.FashionSpace(roundTo: roundTo);
        var environment = new PruningEnvironment(space);
        var random = new Random(5);
        int clippedToTheWall = 0;
        for (int episode = 0; episode < 500; episode++)
        {
            environment.Reset();
            // Every fifth episode asks for everything: the wall must then cut the later groups.
            for (int g = 0; g < space.Count; g++)
            {
                double action = episode % 5 == 0 ? 1 : random.NextDouble();
                var (_, done, kept) = environment.Act(action);
                Assert.Equal(g == space.Count - 1, done);
                Assert.Contains(kept, space.Options(g));
                Assert.True(kept >= space.Options(g)[0]);
                if (kept < space.KeptFor(g, action)) clippedToTheWall++;
            }
            long macs = space.MacsOf(environment.Kept);
            Assert.True(macs <= space.Budget, $"episode {episode}: {macs} MACs over the budget {space.Budget}");
        }
        Assert.True(clippedToTheWall >= 100, $"the wall clipped only {clippedToTheWall} actions");
    }

    [Fact]
    public void EveryRandomEpisodeEndsAtTheBudgetUpToOneStepOfTheLastGroupUnlessTheWallIsOneSided()
    {
        var space = SearchFixtures.FashionSpace();
        int last = space.Count - 1;
        double RunEpisodes(bool exact)
        {
            var environment = new PruningEnvironment(space, exact);
            var random = new Random(9);
            double lowest = 1;
            for (int episode = 0; episode < 300; episode++)
            {
                environment.Reset();
                for (int g = 0; g < space.Count; g++) environment.Act(random.NextDouble());
                var kept = environment.Kept.ToArray();
                Assert.True(space.MacsOf(kept) <= space.Budget);
                lowest = Math.Min(lowest, (double)space.MacsOf(kept) / space.Budget);
                if (!exact) continue;
                // The last group keeps the most the budget allows: one option more breaks it (or it is already whole).
                var more = kept.ToArray();
                if (more[last] == space.Options(last)[^1]) continue;
                more[last] = space.Options(last).First(o => o > kept[last]);
                Assert.True(space.MacsOf(more) > space.Budget, $"episode {episode} ends at {space.MacsOf(kept)} of {space.Budget} MACs with room left");
            }
            return lowest;
        }
        // One more channel of the last group (fc1) is a small part of the budget.
        Assert.True(RunEpisodes(exact: true) > 0.98);
        // AMC's one-sided wall lets random episodes end far below the budget.
        Assert.True(RunEpisodes(exact: false) < 0.7);
    }

    [Fact]
    public void AnAllOnesEpisodeSpendsTheBudgetUpToOneStepOfTheLastGroup()
    {
        var space = SearchFixtures.FashionSpace();
        var environment = new PruningEnvironment(space);
        environment.Reset();
        for (int g = 0; g < space.Count; g++) environment.Act(1);
        var kept = environment.Kept.ToArray();
        Assert.True(space.MacsOf(kept) <= space.Budget);
        // The wall stopped the groups that could not keep more: one more channel in the last group breaks the budget.
        int last = space.Count - 1;
        var more = kept.ToArray();
        more[last] = space.Options(last).First(o => o > kept[last]);
        Assert.True(space.MacsOf(more) > space.Budget);
        // The groups asked for everything first, while the floors of the rest still fit.
        Assert.Equal(32, kept[0]);
    }

    [Fact]
    public void TheWalledPolicyShrunkForRealCountsNoMoreThanTheBudget()
    {
        var space = SearchFixtures.FashionSpace();
        var environment = new PruningEnvironment(space);
        environment.Reset();
        foreach (double a in new[] { 0.9, 0.7, 0.8, 0.6 }) environment.Act(a);
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, SearchFixtures.FashionShape, new ShrinkOptions { RoundTo = 1 });
        var masks = space.ById(environment.Kept).ToDictionary(p => p.Key,
            p => Enumerable.Range(0, space.Groups.Single(g => g.Id == p.Key).Channels).Select(c => c < p.Value).ToArray());
        editor.ShrinkChannels(masks);
        long counted = FlopsCounter.Count(model, SearchFixtures.FashionShape).TotalFlops;
        Assert.Equal(space.MacsOf(environment.Kept), counted);
        Assert.True(counted <= space.Budget);
    }

    [Fact]
    public void ABudgetTheFloorCannotReachIsOneErrorNamingTheMinimum()
    {
        using var model = new FashionCnn();
        var graph = ModelGraph.Build(model, SearchFixtures.FashionShape);
        var floorSpace = PolicySpace.Build(model, graph, 1, 0.5);
        double minimum = (double)floorSpace.MacsOf(Enumerable.Range(0, 4).Select(g => floorSpace.Options(g)[0]).ToArray()) / floorSpace.FullMacs;
        var error = Assert.Throws<ArgumentException>(() => PolicySpace.Build(model, graph, 0.1, 0.5));
        Assert.Contains($"smallest reachable ratio is {minimum.ToString("0.###", CultureInfo.CurrentCulture)}", error.Message);
        Assert.Contains("raise the target or lower the floor", error.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PolicySpace.Build(model, graph, 0.3, 1.5));
    }

    [Fact]
    public void StatesHaveAmcsTenFeaturesInTheUnitInterval()
    {
        var space = SearchFixtures.FashionSpace();
        var environment = new PruningEnvironment(space);
        var first = environment.Reset();
        Assert.Equal(PruningEnvironment.StateSize, first.Length);
        Assert.Equal(0f, first[0]);   // index
        Assert.Equal(0f, first[1]);   // conv
        Assert.Equal(0f, first[7]);   // nothing removed yet
        Assert.Equal(1f, first[9]);   // previous action starts at 1
        var (second, _, kept) = environment.Act(0.5);
        Assert.Equal(1f / 3, second[0], 6);
        Assert.Equal(kept / 32f, second[9], 6);
        long removed = space.FullMacs - space.MacsOf([kept, 64, 128, 256]);
        Assert.Equal((float)((double)removed / space.FullMacs), second[7], 6);
        Assert.True(second[7] > 0);
        environment.Act(0.5);
        var (fourth, _, _) = environment.Act(0.5);
        Assert.Equal(1f, fourth[0]);
        Assert.Equal(1f, fourth[1]);  // fc1 is the Linear
        Assert.Equal(0f, fourth[8]);  // no group after the last
        foreach (var s in new[] { first, second, fourth }) Assert.All(s, v => Assert.InRange(v, 0f, 1f));
        var (_, done, _) = environment.Act(0.5);
        Assert.True(done);
        Assert.Throws<InvalidOperationException>(() => environment.Act(0.5));
    }

    [Fact]
    public void RepairBringsAnyRatiosInsideTheBudgetAndUniformIsTheLargestCommonRatio()
    {
        var space = SearchFixtures.FashionSpace();
        var random = new Random(3);
        for (int i = 0; i < 200; i++)
        {
            var ratios = Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 1.2).ToArray();
            var kept = space.Repair(ratios);
            Assert.True(space.MacsOf(kept) <= space.Budget);
            for (int g = 0; g < 4; g++) Assert.Contains(kept[g], space.Options(g));
        }
        Assert.Equal([7, 13, 26, 52], space.Repair([0, 0, 0, 0]));
        var uniform = space.Uniform();
        Assert.True(space.MacsOf(uniform) <= space.Budget);
        var ratio = uniform.Select((k, g) => (double)k / space.Groups[g].Channels).ToArray();
        Assert.InRange(ratio.Max() - ratio.Min(), 0, 0.04);
    }
}
