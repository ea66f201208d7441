using Trainer.Abstractions.Compression;
using Trainer.Core.Search;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

public class GroupL1SelectionTests
{
    /// <summary>a makes channels 0–3 (filter L1 1, 2, 3, 4), b channels 4–7 (0.4, 0.8, 1.2, 1.6), c all eight (0.04 each).</summary>
    private static (nn.Module<Tensor, Tensor> Model, ChannelGroupInfo Group) SlicedGroup()
    {
        var (a, b, c) = (nn.Linear(1, 4, hasBias: false), nn.Linear(4, 4, hasBias: false), nn.Linear(4, 8, hasBias: false));
        using (no_grad())
        {
            a.weight!.copy_(tensor(new[] { 1f, 2, 3, 4 }).reshape(4, 1));
            b.weight!.copy_(tensor(new[] { 0.1f, 0.2f, 0.3f, 0.4f }).reshape(4, 1).expand(4, 4));
            c.weight!.fill_(0.01f);
        }
        var group = new ChannelGroupInfo("g", ["a", "b", "c"], [], 8, null)
        {
            ProducerSlices = new Dictionary<string, ChannelRange> { ["a"] = new(0, 4), ["b"] = new(4, 4) },
        };
        return (nn.Sequential(("a", a), ("b", b), ("c", c)), group);
    }

    [Fact]
    public void A_sliced_groups_channel_scores_its_own_producers_filter_plus_every_whole_width_producers()
    {
        var (model, group) = SlicedGroup();
        Assert.Equal([1.04, 2.04, 3.04, 4.04, 0.44, 0.84, 1.24, 1.64], GroupL1Selection.Scores(model, group), new Tolerance(1e-6));
    }

    [Fact]
    public void Each_slice_keeps_its_best_channel_when_the_count_allows_then_the_largest_scores_win()
    {
        var (model, group) = SlicedGroup();
        Assert.Equal([false, false, false, true, false, false, false, true], GroupL1Selection.Select(model, group, 2));
        Assert.Equal([false, false, true, true, false, false, false, true], GroupL1Selection.Select(model, group, 3));
        Assert.Equal([false, false, false, true, false, false, false, false], GroupL1Selection.Select(model, group, 1));
        // Without slices the same scores keep the two largest.
        Assert.Equal([false, false, true, true, false, false, false, false], GroupL1Selection.TopK(GroupL1Selection.Scores(model, group), 2));
    }

    [Fact]
    public void A_producer_that_is_no_weight_layer_is_refused_by_name()
    {
        var model = nn.Sequential(("relu", nn.ReLU()));
        var error = Assert.Throws<ArgumentException>(() => GroupL1Selection.Select(model, ["relu"], 4, 2));
        Assert.StartsWith("producer 'relu' of group '' is not a convolution or Linear of the model", error.Message);
    }

    private sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }
}
