using Trainer.Core.Compression;
using Trainer.Core.Models;
using TorchSharp;

namespace Trainer.Core.Tests.Compression;

public sealed class ShrinkTests
{
    [Fact]
    public void MacsIfKept_equals_the_macs_after_shrinking_FashionCnn_to_the_same_counts()
    {
        torch.manual_seed(1);
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);
        var counts = new Dictionary<string, int> { ["conv1"] = 16, ["conv2"] = 40, ["conv3"] = 64, ["fc1"] = 128 };
        var macsBefore = editor.Cost.Macs;

        long predicted = editor.MacsIfKept(counts);
        Assert.Equal(macsBefore, editor.Cost.Macs); // nothing changed
        var random = new Random(3);
        var summary = editor.ShrinkChannels(counts.ToDictionary(c => c.Key,
            c => EditorFixtures.RandomFlags(editor.ChannelGroups.Single(g => g.Id == c.Key).Channels, c.Value, random)));

        // conv1 16·784·9 + conv2 40·784·9·16 + conv3 64·196·9·40 + fc1 128·64·49 + fc2 10·128.
        Assert.Equal(9_547_264L, predicted);
        Assert.Equal(predicted, editor.Cost.Macs);
        Assert.Equal(predicted, summary.After.Macs);
        Assert.Equal(macsBefore, summary.Before.Macs);
        Assert.Equal([16, 40, 64, 128, 10], editor.ChannelGroups.Select(g => g.Channels));
        var edit = Assert.IsType<ShrinkEdit>(Assert.Single(editor.Edits));
        Assert.Equal(counts, edit.KeptChannelsByProducer.OrderBy(p => p.Key).ToDictionary());
    }

    [Fact]
    public void MacsIfKept_counts_the_rounding_that_ShrinkChannels_applies()
    {
        torch.manual_seed(1);
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);   // RoundTo 8
        var counts = new Dictionary<string, int> { ["conv1"] = 13, ["conv2"] = 35, ["conv3"] = 60, ["fc1"] = 121 };

        long predicted = editor.MacsIfKept(counts);
        var random = new Random(4);
        editor.ShrinkChannels(counts.ToDictionary(c => c.Key,
            c => EditorFixtures.RandomFlags(editor.ChannelGroups.Single(g => g.Id == c.Key).Channels, c.Value, random)));

        Assert.Equal([16, 40, 64, 128, 10], editor.ChannelGroups.Select(g => g.Channels));
        Assert.Equal(9_547_264L, predicted);                    // the rounded counts' MACs, as in the test above
        Assert.Equal(predicted, editor.Cost.Macs);
    }

    [Fact]
    public void MacsIfKept_follows_residual_couplings_exactly()
    {
        torch.manual_seed(2);
        using var model = new TinyResNet();
        var editor = new ModelEditor(model, [1, 3, 16, 16], new Trainer.Core.Pruning.ShrinkOptions { RoundTo = 1 });
        var counts = new Dictionary<string, int> { ["stem"] = 5, ["layer1.conv1"] = 3, ["layer2.conv1"] = 7, ["layer2.conv2"] = 9 };

        long predicted = editor.MacsIfKept(counts);
        var random = new Random(4);
        editor.ShrinkChannels(counts.ToDictionary(c => c.Key,
            c => EditorFixtures.RandomFlags(editor.ChannelGroups.Single(g => g.Id == c.Key).Channels, c.Value, random)));

        Assert.Equal(predicted, editor.Cost.Macs);
        // stem 5·256·27; layer1 3·256·9·5 + 5·256·9·3; layer2 7·64·9·5 + 9·64·9·7 + downsample 9·64·5; fc 5·9.
        Assert.Equal(5L * 256 * 27 + 3 * 256 * 9 * 5 + 5 * 256 * 9 * 3 + 7 * 64 * 9 * 5 + 9 * 64 * 9 * 7 + 9 * 64 * 5 + 5 * 9, predicted);
    }

    [Fact]
    public void Flags_are_rounded_up_with_the_first_unflagged_channels()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);
        var flags = new bool[32];
        foreach (var c in new[] { 3, 9, 17, 30, 31 }) flags[c] = true;

        var summary = editor.ShrinkChannels(new Dictionary<string, bool[]> { ["conv1"] = flags });

        var kept = summary.KeptByGroup["conv1"];
        Assert.Equal([0, 1, 2, 3, 9, 17, 30, 31], Enumerable.Range(0, 32).Where(c => kept[c]));
        Assert.Equal(8, editor.ChannelGroups[0].Channels);
        Assert.Equal([false, false, false, true], flags[..4]); // the caller's array is not changed
    }

    [Fact]
    public void Bad_shrink_requests_name_the_group_and_leave_the_model_unchanged()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);
        var macs = editor.Cost.Macs;

        var unknown = Assert.Throws<ArgumentException>(() => editor.ShrinkChannels(new Dictionary<string, bool[]> { ["conv4"] = new bool[32] }));
        Assert.Contains("no channel group 'conv4'; closest group ids: conv1, conv2, conv3", unknown.Message);
        var length = Assert.Throws<ArgumentException>(() => editor.ShrinkChannels(new Dictionary<string, bool[]> { ["conv2"] = new bool[32] }));
        Assert.Contains("group 'conv2' has 64 channels; its flags have 32 entries", length.Message);
        var blocked = Assert.Throws<ArgumentException>(() => editor.ShrinkChannels(new Dictionary<string, bool[]> { ["fc2"] = new bool[10] }));
        Assert.Contains("group 'fc2' cannot be shrunk: 'fc2' produces the model's output", blocked.Message);
        var none = Assert.Throws<ArgumentException>(() => editor.ShrinkChannels(new Dictionary<string, bool[]> { ["conv2"] = new bool[64] }));
        Assert.Contains("the flags of group 'conv2' keep no channel", none.Message);
        var count = Assert.Throws<ArgumentException>(() => editor.MacsIfKept(new Dictionary<string, int> { ["conv3"] = 129 }));
        Assert.Contains("group 'conv3' has 128 channels; a kept count of 129 is outside [1, 128]", count.Message);

        Assert.Equal(macs, editor.Cost.Macs);
        Assert.Empty(editor.Edits);
    }
}
