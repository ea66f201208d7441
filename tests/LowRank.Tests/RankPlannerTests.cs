using Plugins.LowRank;

namespace LowRank.Tests;

/// <summary>Ranks from one shared MAC-keep fraction or by spectral energy: the target is met, layers no rank helps are skipped.</summary>
public sealed class RankPlannerTests
{
    // Conv 32→64 3×3 at 28×28 and 64→128 3×3 at 14×14, as in the Fashion CNN.
    private static readonly FactorizableLayer Conv2 = new("conv2", "Conv2d", 288, 64, 288L * 64 * 784);
    private static readonly FactorizableLayer Conv3 = new("conv3", "Conv2d", 576, 128, 576L * 128 * 196);
    // A 1×1 conv from one channel: rank 1 already costs 1 + 8 ≥ 8 MACs per position.
    private static readonly FactorizableLayer Thin = new("thin", "Conv2d", 1, 8, 8L * 100);

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.3)]
    [InlineData(0.9)]
    public void Macs_after_are_at_most_the_target_and_close_to_it(double target)
    {
        var plan = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), target);
        Assert.True(plan.TargetMet);
        Assert.True(plan.MacsAfter <= target * plan.MacsBefore);
        Assert.Equal(plan.Choices.Sum(c => c.Layer.MacsAt(c.Rank!.Value)), plan.MacsAfter);
        // One rank step more on any layer would break the target, or the ranks are within a step of the fraction's.
        Assert.True(plan.Ratio > target - 0.05, $"ratio {plan.Ratio} far below target {target}");
        Assert.All(plan.Choices, c => Assert.True(c.Layer.SavesAt(c.Rank!.Value)));
    }

    [Fact]
    public void By_energy_the_layer_whose_spectrum_decays_fast_gives_up_rank_first()
    {
        // Two layers of one shape: conv2's energy sits in a few singular values, conv2b's is spread evenly.
        var twin = Conv2 with { Name = "conv2b" };
        var energies = new Dictionary<string, double[]>
        {
            ["conv2"] = Enumerable.Range(0, 64).Select(a => Math.Pow(0.5, a)).ToArray(),
            ["conv2b"] = Enumerable.Repeat(1.0, 64).ToArray(),
        };
        var plan = RankPlanner.Plan([Conv2, twin], new Dictionary<string, int>(), 0.5, energies: energies);
        var uniform = RankPlanner.Plan([Conv2, twin], new Dictionary<string, int>(), 0.5);

        Assert.True(plan.TargetMet);
        Assert.True(plan.MacsAfter <= 0.5 * plan.MacsBefore);
        Assert.True(plan.MacsAfter > 0.5 * plan.MacsBefore - Conv2.Positions * (Conv2.Columns + Conv2.Rows), "a rank step of budget left");
        int decaying = plan.Choices[0].Rank!.Value, flat = plan.Choices[1].Rank!.Value;
        Assert.True(decaying < flat, $"ranks {decaying} (decaying) vs {flat} (flat)");
        // The objective, the product of kept energy fractions, beats the uniform plan's.
        double Kept(RankPlan p) => p.Choices.Aggregate(1.0, (product, c) =>
            product * energies[c.Layer.Name].Take(c.Rank!.Value).Sum() / energies[c.Layer.Name].Sum());
        Assert.True(Kept(plan) > Kept(uniform), $"energy {Kept(plan)} vs uniform {Kept(uniform)}");
    }

    [Fact]
    public void A_layer_no_rank_helps_is_skipped_and_the_others_cut_deeper()
    {
        var withThin = RankPlanner.Plan([Thin, Conv2, Conv3], new Dictionary<string, int>(), 0.5);
        var skipped = Assert.Single(withThin.Choices, c => c.Rank is null);
        Assert.Equal("thin", skipped.Layer.Name);
        Assert.Contains("no rank saves MACs", skipped.SkipReason);
        Assert.True(withThin.MacsAfter <= 0.5 * withThin.MacsBefore);

        var without = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), 0.5);
        var rankWith = withThin.Choices.Single(c => c.Layer.Name == "conv3").Rank!.Value;
        var rankWithout = without.Choices.Single(c => c.Layer.Name == "conv3").Rank!.Value;
        Assert.True(rankWith <= rankWithout);
        Assert.True(withThin.Choices.Where(c => c.Rank is not null).Sum(c => c.MacsAfter)
                    <= without.MacsAfter);
    }

    [Fact]
    public void Explicit_ranks_are_kept_and_the_rest_share_the_remaining_budget()
    {
        var plan = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int> { ["conv2"] = 10 }, 0.5);
        var conv2 = plan.Choices.Single(c => c.Layer.Name == "conv2");
        Assert.Equal(10, conv2.Rank);
        Assert.True(conv2.Explicit);
        Assert.True(plan.MacsAfter <= 0.5 * plan.MacsBefore);
    }

    [Fact]
    public void A_target_covering_fixed_macs_cuts_the_selected_layers_deeper()
    {
        const long fixedMacs = 6272L * 256; // fc1 of the Fashion CNN, not selected
        var plan = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), 0.5, fixedMacs);
        var selectedOnly = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), 0.5);
        Assert.Equal(Conv2.Macs + Conv3.Macs + fixedMacs, plan.MacsBefore);
        Assert.True(plan.MacsAfter <= 0.5 * plan.MacsBefore);
        Assert.True(plan.MacsAfter - fixedMacs < selectedOnly.MacsAfter);
    }

    [Fact]
    public void An_unreachable_target_gives_rank_1_everywhere_and_says_so()
    {
        var plan = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), 0.001);
        Assert.False(plan.TargetMet);
        Assert.All(plan.Choices, c => Assert.Equal(1, c.Rank));
    }

    [Fact]
    public void A_target_of_one_factorizes_nothing()
    {
        var plan = RankPlanner.Plan([Conv2, Conv3], new Dictionary<string, int>(), 1.0);
        Assert.All(plan.Choices, c => Assert.Null(c.Rank));
        Assert.Equal(plan.MacsBefore, plan.MacsAfter);
    }
}
