using Trainer.Core.Graph;
using Trainer.Core.Pruning;

namespace Trainer.Core.Tests.Graph;

/// <summary>A concatenation that meets full-width tensors couples slice by slice, not as a whole.</summary>
public sealed class SliceCouplingTests
{
    [Fact]
    public void Each_concat_input_is_tied_to_its_slice_of_the_residual_and_the_gate()
    {
        using var model = new ConcatResidualSeNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);

        Assert.Empty(graph.Problems);
        var group = graph.GroupOf("branchA");
        Assert.Equal(["branchA", "branchB", "excite", "shortcut"], group.Producers);
        Assert.Equal(16, group.Channels);
        Assert.True(group.IsSliced);
        Assert.True(group.IsPrunable);
        Assert.Equal(new ChannelSlice(0, 8), group.SliceOf("branchA"));
        Assert.Equal(new ChannelSlice(8, 8), group.SliceOf("branchB"));
        Assert.Equal(new ChannelSlice(0, 16), group.SliceOf("shortcut"));
        Assert.Equal(new ChannelSlice(0, 16), group.SliceOf("excite"));
        Assert.Equal(["bnA", "bnSum"], group.Followers);
        // The squeeze conv reads the concatenation alone: a consumer, not a member.
        Assert.False(graph.GroupOf("squeeze").IsCoupled);
    }

    [Fact]
    public void A_group_mask_gives_each_producer_its_slice()
    {
        using var model = new ConcatResidualSeNet();
        var group = ModelGraph.Build(model, [1, 3, 8, 8]).GroupOf("shortcut");
        var mask = Enumerable.Range(0, 16).Select(c => c % 3 != 0).ToArray();

        var masks = group.ProducerMasks(mask);

        Assert.Equal(mask[..8], masks["branchA"]);
        Assert.Equal(mask[8..], masks["branchB"]);
        Assert.Equal(mask, masks["shortcut"]);
        Assert.Throws<ArgumentException>(() => group.ProducerMasks(new bool[8]));
    }

    [Fact]
    public void Masks_that_disagree_on_a_shared_slice_are_refused_with_the_channels()
    {
        using var model = new ConcatResidualSeNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);
        var group = graph.GroupOf("shortcut");
        var masks = group.ProducerMasks(Enumerable.Range(0, 16).Select(c => c != 9).ToArray()).ToDictionary();
        masks["branchB"] = Enumerable.Range(0, 8).Select(c => c != 2).ToArray();   // position 10, where the others drop 9

        var error = Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph, masks));

        // branchB's mask is laid first (the first with a pruned channel); the full-width members differ at positions 9 and 10.
        Assert.Contains("'excite' differs from 'branchB' at channels 9,10 (its channels lie at [0, 16) of the group's 16)", error.Message);
        Assert.Contains("'shortcut' differs from 'branchB' at channels 9,10", error.Message);
        Assert.Equal(8, model.named_modules().Single(m => m.name == "branchB").module.parameters().First().shape[0]); // unchanged
    }

    [Fact]
    public void A_mask_that_empties_one_concat_input_is_refused()
    {
        using var model = new ConcatResidualSeNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);
        var masks = graph.GroupOf("shortcut").ProducerMasks(Enumerable.Range(0, 16).Select(c => c >= 8).ToArray());

        var error = Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph, masks));

        Assert.Contains("keeps none of the channels of 'branchA' ([0, 8) of the group's 16)", error.Message);
    }

    [Fact]
    public void Mask_conflict_merges_members_position_by_position_on_the_group_axis()
    {
        using var model = new ConcatResidualSeNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);
        var given = new Dictionary<string, bool[]>
        {
            ["branchA"] = Enumerable.Range(0, 8).Select(c => c < 4).ToArray(),       // drops 4..7
            ["branchB"] = Enumerable.Range(0, 8).Select(c => c % 2 == 0).ToArray(),  // drops 9, 11, 13, 15
            ["shortcut"] = Enumerable.Range(0, 16).Select(c => c != 4 && c != 9).ToArray(),
            ["excite"] = Enumerable.Range(0, 16).Select(c => c != 4 && c != 9 && c != 0).ToArray(),
        };

        var union = MaskConflict.Fix(graph, given, ConflictMode.Union).Masks;
        var intersection = MaskConflict.Fix(graph, given, ConflictMode.Intersection).Masks;

        Assert.Equal([true, true, true, true, false, true, true, true], union["branchA"]);
        Assert.Equal([true, false, true, true, true, true, true, true], union["branchB"]);
        Assert.Equal(union["branchA"].Concat(union["branchB"]), union["shortcut"]);
        Assert.Equal([false, true, true, true, false, false, false, false], intersection["branchA"]);
        Assert.Equal([true, false, true, false, true, false, true, false], intersection["branchB"]);
        Assert.Equal(intersection["branchA"].Concat(intersection["branchB"]), intersection["excite"]);
        // The fixed masks are what the shrinker takes.
        ChannelShrinker.Shrink(model, graph, intersection);
        Assert.Equal(4, model.named_modules().Single(m => m.name == "branchB").module.parameters().First().shape[0]);
    }
}
