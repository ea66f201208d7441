using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.PruningFixtures;

namespace Trainer.Core.Tests.Pruning;

/// <summary>
/// GroupNorm and LayerNorm shrink with their producers. Unlike BatchNorm they normalise over several channels, so a
/// shrunk model is not the masked one (zeroed channels would still count in the statistics): the tests check what is kept.
/// </summary>
public sealed class NormFollowerShrinkTests
{
    [Fact]
    public void GroupNorm_and_LayerNorm_keep_the_entries_of_the_kept_channels()
    {
        var (original, model) = Twins(() => new NormFollowersNet());
        using var _ = original;
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);
        bool[] conv1Mask = [true, false, true, false, true, false, true, false];     // one of each pair: 4 kept, a multiple of 4 groups
        var embedMask = Enumerable.Range(0, 12).Select(c => c % 3 != 1).ToArray();  // 8 of 12
        var masks = new Dictionary<string, bool[]> { ["conv1"] = conv1Mask, ["embed"] = embedMask };

        var report = ChannelShrinker.Shrink(model, graph, masks);

        var modules = Modules(model);
        var before = Modules(original);
        var groupNorm = (TorchSharp.Modules.GroupNorm)modules["groupNorm"];
        var layerNorm = (TorchSharp.Modules.LayerNorm)modules["layerNorm"];
        long[] keptConv = [0, 2, 4, 6];
        var keptEmbed = Enumerable.Range(0, 12).Where(c => c % 3 != 1).Select(c => (long)c).ToArray();
        Assert.Equal(((TorchSharp.Modules.GroupNorm)before["groupNorm"]).weight!.index_select(0, tensor(keptConv)).data<float>().ToArray(),
            groupNorm.weight!.data<float>().ToArray());
        Assert.Equal([8L], layerNorm.normalized_shape);
        Assert.Equal(((TorchSharp.Modules.LayerNorm)before["layerNorm"]).bias!.index_select(0, tensor(keptEmbed)).data<float>().ToArray(),
            layerNorm.bias!.data<float>().ToArray());
        Assert.Equal((12L, 8L), (report.Layer("layerNorm").OutBefore, report.Layer("layerNorm").OutAfter));
        Assert.Equal((8L, 4L), (report.Layer("conv2").InBefore, report.Layer("conv2").InAfter));
        Assert.Equal((12L, 8L), (report.Layer("head").InBefore, report.Layer("head").InAfter));
        using var y = Eval(model, randn(2, 3, 4, 4));
        Assert.Equal([2L, 16, 4], y.shape);
        Assert.True(double.IsFinite(TrainStep(model, [2, 3, 4, 4])));
        model.Dispose();
    }

    [Fact]
    public void A_GroupNorm_that_would_keep_a_count_not_divisible_by_its_groups_is_refused()
    {
        using var model = new NormFollowersNet();
        var graph = ModelGraph.Build(model, [1, 3, 4, 4]);

        var error = Assert.Throws<ArgumentException>(() => ChannelShrinker.Shrink(model, graph,
            new Dictionary<string, bool[]> { ["conv1"] = [true, true, true, false, true, true, true, true] }));

        Assert.Contains("keeps 7 of 8 channels, but 'conv1' needs a multiple of 4 (grouped conv or GroupNorm 'groupNorm')", error.Message);
    }
}
