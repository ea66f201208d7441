using Trainer.Abstractions.Compression;
using Trainer.Core.Search;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

public class GroupChannelSelectionTests
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
        Assert.Equal([1.04, 2.04, 3.04, 4.04, 0.44, 0.84, 1.24, 1.64], GroupChannelSelection.Scores(model, group), new Tolerance(1e-6));
    }

    [Fact]
    public void Each_slice_keeps_its_best_channel_when_the_count_allows_then_the_largest_scores_win()
    {
        var (model, group) = SlicedGroup();
        Assert.Equal([false, false, false, true, false, false, false, true], GroupChannelSelection.Select(model, group, 2));
        Assert.Equal([false, false, true, true, false, false, false, true], GroupChannelSelection.Select(model, group, 3));
        Assert.Equal([false, false, false, true, false, false, false, false], GroupChannelSelection.Select(model, group, 1));
        // Without slices the same scores keep the two largest.
        Assert.Equal([false, false, true, true, false, false, false, false], GroupChannelSelection.TopK(GroupChannelSelection.Scores(model, group), 2));
    }

    [Fact]
    public void Another_filter_score_ranks_the_channels_fpgm_keeping_the_filters_farthest_from_the_others()
    {
        // Filters [4, 0], [4.2, 0], [0, 1], [-3, 0]: L1 keeps the two largest (0, 1); FPGM's summed distances are
        // 11.32, 11.72, 11.60, 17.36, so it keeps 3 and 1 (0 is nearly a copy of 1).
        var layer = nn.Linear(2, 4, hasBias: false);
        using (no_grad()) layer.weight!.copy_(tensor(new[] { 4f, 0, 4.2f, 0, 0, 1, -3, 0 }).reshape(4, 2));
        var model = nn.Sequential(("fc", layer));
        var group = new ChannelGroupInfo("fc", ["fc"], [], 4, null);
        Assert.Equal([true, true, false, false], GroupChannelSelection.Select(model, group, 2));
        Assert.Equal([false, true, false, true], GroupChannelSelection.Select(model, group, 2, Trainer.Core.Analysis.Sensitivity.FilterScores.Fpgm));
        var transposed = nn.Sequential(("up", nn.ConvTranspose2d(2, 4, 2)));
        var refused = Assert.Throws<ArgumentException>(() => GroupChannelSelection.Select(transposed, new ChannelGroupInfo("up", ["up"], [], 4, null), 2,
            Trainer.Core.Analysis.Sensitivity.FilterScores.Fpgm));
        Assert.Contains("only the L1 selection ranks", refused.Message);
    }

    [Fact]
    public void A_producer_that_is_no_weight_layer_is_refused_by_name()
    {
        var model = nn.Sequential(("relu", nn.ReLU()));
        var error = Assert.Throws<ArgumentException>(() => GroupChannelSelection.Select(model, ["relu"], 4, 2));
        Assert.StartsWith("producer 'relu' of group '' is not a convolution or Linear of the model", error.Message);
    }

    private sealed class Tolerance(double eps) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= eps;
        public int GetHashCode(double obj) => 0;
    }
}
