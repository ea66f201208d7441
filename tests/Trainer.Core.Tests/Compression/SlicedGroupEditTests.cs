using TorchSharp;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;

namespace Trainer.Core.Tests.Compression;

/// <summary>The model editor and the edit replay on a group whose producers cover slices (a concat meeting a residual and a gate).</summary>
public sealed class SlicedGroupEditTests
{
    private static readonly long[] Shape = [1, 3, 8, 8];

    [Fact]
    public void Compressors_see_a_sliced_group_with_each_producers_slice_and_its_segments()
    {
        using var model = new ConcatResidualSeNet();
        var editor = new ModelEditor(model, Shape);

        var group = Assert.Single(editor.ChannelGroups, g => g.Producers.Contains("shortcut"));

        Assert.Equal(("branchA", 16), (group.Id, group.Channels));
        Assert.True(group.IsPrunable, group.BlockedBy);
        Assert.True(group.IsSliced);
        Assert.Equal(new ChannelRange(0, 8), group.SliceOf("branchA"));
        Assert.Equal(new ChannelRange(8, 8), group.SliceOf("branchB"));
        Assert.Equal(new ChannelRange(0, 16), group.SliceOf("shortcut"));
        Assert.Equal(new ChannelRange(0, 16), group.SliceOf("excite"));
        Assert.Equal([new ChannelRange(0, 8), new ChannelRange(8, 8)], group.Segments);
        Assert.Equal(2, group.MinKept);
        // The consumers that read the whole axis are listed at the place group channel c lands; none reads a slice alone.
        Assert.Equal([("squeeze", 0, 1), ("conv", 0, 1)], group.Consumers.Select(c => (c.Layer, c.Offset, c.BlockSize)));
        Assert.Empty(group.SliceConsumers);
        Assert.Throws<ArgumentException>(() => group.SliceOf("conv"));
    }

    [Fact]
    public void A_layer_reading_one_input_of_the_concatenation_is_a_slice_consumer()
    {
        using var model = new ConcatSideReadNet();
        var editor = new ModelEditor(model, Shape);

        var group = Assert.Single(editor.ChannelGroups, g => g.Producers.Contains("shortcut"));

        Assert.True(group.IsPrunable, group.BlockedBy);
        Assert.Equal(["convA", "convB", "shortcut"], group.Producers);
        Assert.Equal([("conv", 0, 1)], group.Consumers.Select(c => (c.Layer, c.Offset, c.BlockSize)));
        var side = Assert.Single(group.SliceConsumers);
        Assert.Equal(("side", 0, 1, new ChannelRange(0, 6)), (side.Layer, side.Offset, side.BlockSize, side.Reads!.Value));
        Assert.Equal(3, side.InputOf(3));
        Assert.Null(side.InputOf(6));
        Assert.Equal(7, group.Consumers[0].InputOf(7));
    }

    [Fact]
    public void MacsIfKept_on_a_sliced_group_spreads_the_count_over_its_slices_and_equals_the_shrunk_models_count()
    {
        using var model = new ConcatResidualSeNet();
        var editor = new ModelEditor(model, Shape, new ShrinkOptions { RoundTo = 1 });
        // NNI's rule, by hand: branchA 8·64·27, branchB 8·64·3, shortcut 16·64·3, squeeze 4·16, excite 16·4,
        // conv 12·64·9·16, fc 12·5.
        Assert.Equal(13824 + 1536 + 3072 + 64 + 64 + 110592 + 60, editor.Cost.Macs);

        long planned = editor.MacsIfKept(new Dictionary<string, int> { ["branchA"] = 6 });

        // Six channels spread as three per slice: branchA 3·64·27, branchB 3·64·3, shortcut 6·64·3, squeeze 4·6, excite 6·4,
        // conv 12·64·9·6, fc 12·5.
        Assert.Equal(5184 + 576 + 1152 + 24 + 24 + 41472 + 60, planned);
        bool[] flags = [true, true, true, false, false, false, false, false, true, true, true, false, false, false, false, false];
        var summary = editor.ShrinkChannels(new Dictionary<string, bool[]> { ["branchA"] = flags });
        Assert.Equal(planned, summary.After.Macs);
        Assert.Equal(planned, Trainer.Core.Analysis.FlopsCounter.Count(model, Shape).TotalFlops);
        Assert.Equal(2, editor.ChannelGroups.Single(g => g.Id == "branchA").MinKept);

        var error = Assert.Throws<ArgumentException>(() => editor.MacsIfKept(new Dictionary<string, int> { ["branchA"] = 1 }));
        Assert.Contains("a kept count of 1 is outside [2, 6] (at least one channel of each of its 2 slices must stay)", error.Message);
    }

    [Fact]
    public void Layers_list_conv1d_and_transposed_convs_with_all_their_kernel_sizes()
    {
        using var conv1d = new Conv1dNet();
        using var unet = new UNetLike();

        var oneD = new ModelEditor(conv1d, [1, 4, 32]).Layers;
        var twoD = new ModelEditor(unet, [1, 3, 16, 16]).Layers;

        var conv2 = oneD.Single(l => l.Name == "conv2");
        Assert.Equal(("Conv1d", 16, 32, (1, 3), 1, false), (conv2.Type, conv2.InChannels, conv2.OutChannels, conv2.KernelSize, conv2.Groups, conv2.IsTransposed));
        Assert.Equal([3], conv2.Kernel);
        Assert.Equal(32, oneD.Single(l => l.Name == "depthwise").Groups);
        Assert.Empty(oneD.Single(l => l.Name == "mix").Kernel);
        var up = twoD.Single(l => l.Name == "up2");
        Assert.Equal(("ConvTranspose2d", 16, 16, (2, 2), true), (up.Type, up.InChannels, up.OutChannels, up.KernelSize, up.IsTransposed));
        Assert.Equal([2, 2], up.Kernel);
        // NNI's rule for a transposed conv counts output pixels: 16·(8·8)·(2·2)·16.
        Assert.Equal(16L * 64 * 4 * 16, up.Macs);
        // The groups they produce are prunable now; only the outputs stay blocked.
        var groups = new ModelEditor(unet, [1, 3, 16, 16]).ChannelGroups;
        Assert.True(groups.Single(g => g.Id == "up2").IsPrunable);
        Assert.Equal(["enc1", "enc2", "bottleneck", "up2", "dec2", "dec1"], groups.Where(g => g.IsPrunable).Select(g => g.Id));
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
