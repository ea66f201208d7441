using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Tests.Graph;

namespace Trainer.Core.Tests.Compression;

/// <summary>The model editor and the edit replay on a group whose producers cover slices (a concat meeting a residual and a gate).</summary>
public sealed class SlicedGroupEditTests
{
    private static readonly long[] Shape = [1, 3, 8, 8];

    [Fact]
    public void Compressors_see_a_sliced_group_as_blocked_with_the_reason()
    {
        using var model = new ConcatResidualSeNet();
        var editor = new ModelEditor(model, Shape);

        var group = Assert.Single(editor.ChannelGroups, g => g.Producers.Contains("shortcut"));

        Assert.Equal(("branchA", 16), (group.Id, group.Channels));
        Assert.False(group.IsPrunable);
        Assert.StartsWith("its producers cover different slices of its 16 channels", group.BlockedBy);
        // The consumers that read the whole axis are listed at the place group channel c lands.
        Assert.Equal([("squeeze", 0, 1), ("conv", 0, 1)], group.Consumers.Select(c => (c.Layer, c.Offset, c.BlockSize)));
    }

    [Fact]
    [Trait("Category", "Numeric")]
    public void Recorded_per_producer_counts_replay_to_each_producers_slice()
    {
        torch.manual_seed(21);
        using var model = new ConcatResidualSeNet();
        var graph = ModelGraph.Build(model, Shape);
        bool[] flags = [true, false, true, true, false, false, true, false, false, true, true, false, true, true, true, false];
        Trainer.Core.Pruning.ChannelShrinker.Shrink(model, graph, graph.GroupOf("shortcut").ProducerMasks(flags));
        var edit = new ShrinkEdit(new Dictionary<string, int> { ["branchA"] = 4, ["branchB"] = 5, ["excite"] = 9, ["shortcut"] = 9 });

        using var fresh = new ConcatResidualSeNet();
        EditReplay.Apply(fresh, Shape, [edit]);
        fresh.load_state_dict(model.state_dict());

        torch.manual_seed(22);
        using var x = torch.randn(2, 3, 8, 8);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(fresh, x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-6));

        using var contradicting = new ConcatResidualSeNet();
        var error = Assert.Throws<ManifestMismatchException>(() => EditReplay.Apply(contradicting, Shape,
            [new ShrinkEdit(new Dictionary<string, int> { ["branchA"] = 4, ["branchB"] = 5, ["excite"] = 10, ["shortcut"] = 10 })]));
        Assert.Contains("records 10 kept channels, but its slice already keeps 9", error.Message);
    }
}
