using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;

namespace Trainer.Core.Tests.Compression;

/// <summary>The model editor and the edit replay on a group whose producers cover slices (a concat meeting a residual and a gate).</summary>
public sealed class SlicedGroupEditTests
{
    private static readonly long[] Shape = [1, 3, 8, 8];

    [Fact]
    [Trait("Category", "Numeric")]
    public void Group_flags_cut_each_producer_by_its_slice_and_the_recorded_counts_replay_to_the_same_shapes()
    {
        torch.manual_seed(21);
        using var model = new ConcatResidualSeNet();
        var editor = new ModelEditor(model, Shape, new ShrinkOptions { RoundTo = 1 });
        var group = Assert.Single(editor.ChannelGroups, g => g.Producers.Contains("shortcut"));
        Assert.Equal(("branchA", 16), (group.Id, group.Channels));
        Assert.Equal(["branchA", "branchB", "excite", "shortcut"], group.Producers);
        // squeeze and conv read the whole 16-channel axis; each concatenated input at its own offset maps to the same place.
        Assert.Equal(["squeeze", "conv"], group.Consumers.Select(c => c.Layer));
        Assert.All(group.Consumers, c => Assert.Equal((0, 1), (c.Offset, c.BlockSize)));

        bool[] flags = [true, false, true, true, false, false, true, false, false, true, true, false, true, true, true, false];
        editor.ShrinkChannels(new Dictionary<string, bool[]> { [group.Id] = flags });

        var edit = Assert.IsType<ShrinkEdit>(Assert.Single(editor.Edits));
        Assert.Equal(new Dictionary<string, int> { ["branchA"] = 4, ["branchB"] = 5, ["excite"] = 9, ["shortcut"] = 9 },
            edit.KeptChannelsByProducer);

        using var fresh = new ConcatResidualSeNet();
        EditReplay.Apply(fresh, Shape, ModelEdits.FromJson(ModelEdits.ToJson(editor.Edits)));
        fresh.load_state_dict(model.state_dict());
        torch.manual_seed(22);
        using var x = torch.randn(2, 3, 8, 8);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(fresh, x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-6));
    }
}
