using Trainer.Core.Graph;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>Coupled layers get one mask; grouped and depthwise constraints are respected; masks round-trip as JSON.</summary>
public sealed class MaskConflictTests
{
    private static bool[] Keep(int n, Func<int, bool> keep) => Enumerable.Range(0, n).Select(keep).ToArray();

    private static int[] Kept(bool[] mask) => Enumerable.Range(0, mask.Length).Where(c => mask[c]).ToArray();

    [Fact]
    public void Resnet18_coupled_masks_agree_by_union_or_intersection()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);
        var masks = new Dictionary<string, bool[]>
        {
            ["conv1"] = Keep(64, c => c % 2 == 0),
            ["layer1.0.conv2"] = Keep(64, c => c < 32),
            ["layer1.1.conv2"] = Keep(64, c => c < 16),
            ["layer1.0.conv1"] = Keep(64, c => c >= 10),
        };

        var union = MaskConflict.Fix(graph, masks, ConflictMode.Union);
        var expectedUnion = Enumerable.Range(0, 64).Where(c => c < 32 || c % 2 == 0).ToArray();
        foreach (var layer in new[] { "conv1", "layer1.0.conv2", "layer1.1.conv2" })
            Assert.Equal(expectedUnion, Kept(union.Masks[layer]));
        Assert.Equal(Keep(64, c => c >= 10), union.Masks["layer1.0.conv1"]);
        var conv1 = Assert.Single(union.Changes, c => c.Layer == "conv1");
        Assert.Equal((32, 48, 16, 0), (conv1.KeptBefore, conv1.KeptAfter, conv1.Restored.Count, conv1.Removed.Count));
        Assert.Contains("coupled with conv1, layer1.0.conv2, layer1.1.conv2 (union)", conv1.Reason);
        Assert.DoesNotContain(union.Changes, c => c.Layer == "layer1.0.conv1");

        var intersection = MaskConflict.Fix(graph, masks, ConflictMode.Intersection);
        Assert.Equal([0, 2, 4, 6, 8, 10, 12, 14], Kept(intersection.Masks["layer1.0.conv2"]));
        var l102 = Assert.Single(intersection.Changes, c => c.Layer == "layer1.0.conv2");
        Assert.Equal((32, 8, 0, 24), (l102.KeptBefore, l102.KeptAfter, l102.Restored.Count, l102.Removed.Count));
        Assert.Equal(masks["conv1"], Keep(64, c => c % 2 == 0)); // the input is not changed
    }

    [Fact]
    public void Union_with_an_unmasked_coupled_producer_keeps_everything_like_NNI()
    {
        using var model = models.resnet18();
        var graph = ModelGraph.Build(model, [1, 3, 64, 64]);
        var result = MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(64, c => c < 8) });

        Assert.All(new[] { "conv1", "layer1.0.conv2", "layer1.1.conv2" }, l => Assert.All(result.Masks[l], Assert.True));
        Assert.Equal(56, Assert.Single(result.Changes, c => c.Layer == "conv1").Restored.Count);
    }

    [Fact]
    public void Depthwise_conv_without_a_mask_follows_its_expand_conv()
    {
        using var model = new MobileBlockNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);
        var expand = Keep(24, c => c % 3 != 0);
        var result = MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["expand"] = expand });

        Assert.Equal(expand, result.Masks["depthwise"]);
        Assert.Equal(expand, result.Masks["expand"]);
        var change = Assert.Single(result.Changes);
        Assert.Equal(("depthwise", 24, 16), (change.Layer, change.KeptBefore, change.KeptAfter));
    }

    [Fact]
    public void Grouped_conv_input_producer_loses_the_same_number_of_channels_per_group()
    {
        using var model = new GroupedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);
        // conv1: 16 channels in 4 groups of 4 (divisor 4); groups lose [0], [4], [8], [12, 13].
        var pruned = new HashSet<int> { 0, 4, 8, 12, 13 };
        var result = MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["conv1"] = Keep(16, c => !pruned.Contains(c)) });

        Assert.Equal(Keep(16, c => c is not (0 or 4 or 8 or 12)), result.Masks["conv1"]);
        var change = Assert.Single(result.Changes);
        Assert.Equal([13], change.Restored);
        Assert.Contains("group constraint: divisor 4", change.Reason);
    }

    [Fact]
    public void Grouped_conv_may_lose_a_whole_group_but_not_a_lone_channel()
    {
        using var model = new GroupedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);
        // grouped: 32 channels, divisor 4, min groups 4: group 0 (0-7) entirely and channel 8.
        var result = MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["grouped"] = Keep(32, c => c > 8) });

        Assert.Equal(Keep(32, c => c >= 8), result.Masks["grouped"]);
        Assert.Equal([8], Assert.Single(result.Changes).Restored);
    }

    [Fact]
    public void Bad_masks_are_rejected()
    {
        using var model = new GroupedConvNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);

        var unknown = Assert.Throws<ArgumentException>(() => MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["bn"] = new bool[32] }));
        Assert.Contains("'bn': not a producer or depthwise conv", unknown.Message);
        var length = Assert.Throws<ArgumentException>(() => MaskConflict.Fix(graph, new Dictionary<string, bool[]> { ["conv1"] = new bool[15] }));
        Assert.Contains("has 15 entries, the layer has 16 output channels", length.Message);
    }

    [Fact]
    public void Masks_round_trip_through_json()
    {
        var dir = Directory.CreateTempSubdirectory("masks-");
        try
        {
            var path = Path.Combine(dir.FullName, "sub", "masks.json");
            var masks = new Dictionary<string, bool[]> { ["conv1"] = [true, false, true], ["layer2.0.downsample.0"] = [false, true] };
            MaskFile.Save(path, masks);
            MaskFile.Save(path, masks); // overwrites

            Assert.Contains("\"conv1\": \"101\"", File.ReadAllText(path));
            var loaded = MaskFile.Load(path);
            Assert.Equal(masks.Keys, loaded.Keys);
            Assert.Equal(masks["layer2.0.downsample.0"], loaded["layer2.0.downsample.0"]);
            Assert.Equal(["masks.json"], Directory.GetFiles(Path.Combine(dir.FullName, "sub")).Select(Path.GetFileName));

            File.WriteAllText(path, "{\"format\": \"trainer.filter-masks/1\", \"masks\": {\"conv1\": \"10x\"}}");
            Assert.Contains("string of '0' and '1'", Assert.Throws<InvalidDataException>(() => MaskFile.Load(path)).Message);
            File.WriteAllText(path, "{\"masks\": {}}");
            Assert.Contains("not a mask file", Assert.Throws<InvalidDataException>(() => MaskFile.Load(path)).Message);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
