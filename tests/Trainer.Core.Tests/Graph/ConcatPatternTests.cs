using Trainer.Core.Graph;

namespace Trainer.Core.Tests.Graph;

/// <summary>Concatenation along channels: offsets, and no coupling between the concatenated branches.</summary>
public sealed class ConcatPatternTests
{
    [Fact]
    public void Second_branch_arrives_at_an_offset_equal_to_the_first_branchs_channels()
    {
        using var model = new TwoBranchConcatNet();
        var graph = ModelGraph.Build(model, [2, 3, 6, 6]);

        Assert.Empty(graph.Problems);
        Assert.Equal(["branchA", "branchB", "merge"], graph.Producers);
        var a = graph.Edge("branchA", "merge")!;
        var b = graph.Edge("branchB", "merge")!;
        Assert.Equal((MappingKind.Identity, 0L, 8L, 13L), (a.Mapping.Kind, a.Mapping.Offset, a.ProducerChannels, a.TargetWidth));
        Assert.Equal((MappingKind.Offset, 8L, 1L, 5L, 13L),
            (b.Mapping.Kind, b.Mapping.Offset, b.Mapping.BlockSize, b.ProducerChannels, b.TargetWidth));
        Assert.Equal(EdgeRole.Consumer, b.Role);
    }

    [Fact]
    public void Concatenated_branches_are_not_coupled()
    {
        using var model = new TwoBranchConcatNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);

        Assert.Equal([["branchA"], ["branchB"], ["merge"]], graph.ChannelDependency.Sets.Select(s => s.ToArray()));
        Assert.All(graph.Groups, g => Assert.False(g.IsCoupled));
        Assert.NotEqual(graph.GroupOf("branchA").Id, graph.GroupOf("branchB").Id);
    }

    [Fact]
    public void A_norm_after_the_concatenation_follows_each_branch_at_its_offset()
    {
        using var model = new TwoBranchConcatNet();
        var graph = ModelGraph.Build(model, [1, 3, 6, 6]);

        Assert.Equal(ChannelMapping.Identity, graph.Edge("branchA", "bnA")!.Mapping);
        Assert.Equal(ChannelMapping.Identity, graph.Edge("branchA", "bnMerged")!.Mapping);
        Assert.Equal(ChannelMapping.OffsetBy(8), graph.Edge("branchB", "bnMerged")!.Mapping);
        Assert.Equal(EdgeRole.Follower, graph.Edge("branchB", "bnMerged")!.Role);
        // Only identity followers shrink entirely with a producer.
        Assert.Equal(["bnA", "bnMerged"], graph.FollowersOf("branchA"));
        Assert.Empty(graph.FollowersOf("branchB"));
    }
}
