using Xunit.Abstractions;
using Plugins.ChannelPruning;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

public sealed class ChannelPruningCompressorTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, string> HalfEach = new() { ["ratios"] = "conv1=0.5,conv2=0.5,conv3=0.5" };

    [Fact]
    public void Lasso_with_reconstruction_stays_closer_to_the_unpruned_model_than_l1()
    {
        using var lasso = new TinyFixture(seed: 3);
        using var l1 = new TinyFixture(seed: 3);
        var sampled = new Dictionary<string, string>(HalfEach) { ["trainset_ratio"] = "1", ["sampled_pixels_per_img"] = "16" };

        var lassoResult = new ChannelPruningCompressor().Compress(lasso.Request(sampled));
        new ChannelPruningCompressor().Compress(l1.Request(new Dictionary<string, string>(HalfEach) { ["method"] = "l1" }));

        Assert.Equal(lasso.Channels(), l1.Channels());
        Assert.Equal(4, lasso.Channels()["conv1"]);
        double lassoError = lasso.OutputError(), l1Error = l1.OutputError();
        output.WriteLine($"output error: lasso+refit {lassoError:0.0000}, l1 {l1Error:0.0000}");
        foreach (var note in lassoResult.Layers) output.WriteLine($"{note.Layer}: {note.Note}");
        Assert.True(lassoError < 0.7 * l1Error, $"lasso+refit {lassoError:0.0000} vs l1 {l1Error:0.0000}");
        // Every conv consumer and the Linear after the flatten were refit, and each refit lowered its error.
        foreach (var group in new[] { "conv1", "conv2", "conv3" })
            Assert.Contains("after least-squares refit", lassoResult.Layers.Single(n => n.Layer == group).Note);
    }

    [Fact]
    public void A_group_with_two_consumers_is_selected_on_both_and_each_consumer_is_refit()
    {
        using var lasso = new TinyFixture(seed: 5, factory: () => new BranchNet());
        using var l1 = new TinyFixture(seed: 5, factory: () => new BranchNet());
        var settings = new Dictionary<string, string> { ["ratios"] = "conv1=0.5", ["trainset_ratio"] = "1" };

        var result = new ChannelPruningCompressor().Compress(lasso.Request(settings));
        new ChannelPruningCompressor().Compress(l1.Request(new Dictionary<string, string>(settings) { ["method"] = "l1" }));

        var note = result.Layers.Single(n => n.Layer == "conv1").Note;
        output.WriteLine(note);
        Assert.Contains("8 -> 4 channels by LASSO", note);
        Assert.Contains("left: relative reconstruction error", note);
        Assert.Contains("right: relative reconstruction error", note);
        Assert.True(lasso.OutputError() < l1.OutputError(), $"lasso+refit {lasso.OutputError():0.0000} vs l1 {l1.OutputError():0.0000}");
    }

    [Fact]
    public void A_group_read_by_a_grouped_conv_falls_back_to_l1_and_says_so()
    {
        using var lasso = new TinyFixture(seed: 7, factory: () => new GroupedNet());
        using var l1 = new TinyFixture(seed: 7, factory: () => new GroupedNet());

        var result = new ChannelPruningCompressor().Compress(lasso.Request(new() { ["ratios"] = "conv1=0.5" }));
        new ChannelPruningCompressor().Compress(l1.Request(new() { ["ratios"] = "conv1=0.5", ["method"] = "l1" }));

        var note = result.Layers.Single(n => n.Layer == "conv1").Note;
        output.WriteLine(note);
        Assert.Contains("L1 selection instead of LASSO (consumer conv2 is a grouped convolution (groups=2))", note);
        Assert.Equal(4, lasso.Channels()["conv1"]);
        // The same channels as method=l1: the same model.
        Assert.Equal(0, lasso.OutputError() - l1.OutputError(), 6);
    }

    [Fact]
    public void The_hosts_group_keep_ratios_take_precedence_over_the_flops_target()
    {
        using var fixture = new TinyFixture(seed: 6);
        var request = fixture.Request(new() { ["method"] = "l1" }, target: 0.2);
        var result = new ChannelPruningCompressor().Compress(new CompressionRequest
        {
            Model = request.Model,
            ExampleInputShape = request.ExampleInputShape,
            Settings = request.Settings,
            Editor = request.Editor,
            TargetFlopsRatio = 0.2,
            GroupKeepRatios = new Dictionary<string, double> { ["conv2"] = 0.25 },
        });

        Assert.Equal(new Dictionary<string, int> { ["conv1"] = 8, ["conv2"] = 3, ["conv3"] = 8, ["fc"] = 5 }, fixture.Channels());
        Assert.Contains("host's per-group keep ratios", result.Summary);
    }

    [Fact]
    public void Uniform_keep_ratio_meets_the_flops_target()
    {
        using var fixture = new TinyFixture(seed: 1);
        long before = fixture.Editor.Cost.Macs;
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new() { ["trainset_ratio"] = "0.5" }, target: 0.5));

        long after = fixture.Editor.Cost.Macs;
        output.WriteLine(result.Summary);
        Assert.True(after <= 0.5 * before, $"MACs {after} of {before}");
        Assert.True(after > 0.35 * before, $"MACs {after} of {before}: the uniform ratio should be the largest that fits");
        Assert.Contains("uniform keep ratio", result.Summary);
        var channels = fixture.Channels();
        Assert.True(channels["conv1"] < 8 && channels["conv2"] < 12 && channels["conv3"] < 8, string.Join(", ", channels));
    }

    [Fact]
    public void Per_layer_ratios_are_honoured_and_unnamed_or_skipped_groups_keep_their_channels()
    {
        using var fixture = new TinyFixture(seed: 2);
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new()
        {
            ["ratios"] = "conv1=0.5,conv3=0.25,conv2=0.5",
            ["skip_layers"] = "conv2",
            ["trainset_ratio"] = "0.5",
        }));

        Assert.Equal(new Dictionary<string, int> { ["conv1"] = 4, ["conv2"] = 12, ["conv3"] = 2, ["fc"] = 5 }, fixture.Channels());
        Assert.Contains("skip_layers", result.Layers.Single(n => n.Layer == "conv2").Note);
        Assert.Contains("8 -> 2 channels by LASSO", result.Layers.Single(n => n.Layer == "conv3").Note);
        using var _ = no_grad();
        Assert.Equal(new long[] { 64, 5 }, fixture.Model.call(fixture.HeldOut).shape);
    }

    [Fact]
    public void Without_reconstruction_the_consumer_keeps_its_original_weights_of_the_kept_channels()
    {
        using var fixture = new TinyFixture(seed: 8);
        var original = ((TorchSharp.Modules.Conv2d)fixture.Reference.named_modules().Single(m => m.name == "conv3").module).weight!.detach().clone();

        var result = new ChannelPruningCompressor().Compress(fixture.Request(new()
        {
            ["ratios"] = "conv2=0.5",
            ["reconstruct"] = "false",
            ["trainset_ratio"] = "0.5",
        }));

        var note = result.Layers.Single(n => n.Layer == "conv2").Note;
        Assert.Contains("(no refit: reconstruct=false)", note);
        var conv3 = (TorchSharp.Modules.Conv2d)fixture.Model.named_modules().Single(m => m.name == "conv3").module;
        Assert.Equal(6, conv3.weight!.shape[1]);
        // Each kept input channel of conv3 is one of the original ones, unchanged.
        for (int c = 0; c < 6; c++)
        {
            var kept = conv3.weight![.., c];
            Assert.Contains(Enumerable.Range(0, 12), o => original[.., o].allclose(kept));
        }
    }

    [Fact]
    public void Accuracy_first_leaves_a_group_unpruned_when_no_count_holds_the_threshold_and_the_trial_leaves_no_trace()
    {
        using var fixture = new TinyFixture(seed: 4);
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new()
        {
            ["ratios"] = "conv2=0.5",
            ["accuracy_first"] = "true",
            ["accuracy_threshold"] = "0.9",
            ["trainset_ratio"] = "0.5",
        }, evaluate: _ => 0.5));

        Assert.Equal(12, fixture.Channels()["conv2"]);
        Assert.Contains("not pruned: accuracy", result.Layers.Single(n => n.Layer == "conv2").Note);
        // Masks and trial weights are gone: the model still computes exactly what it did.
        Assert.Equal(0, fixture.OutputError());
    }

    [Theory]
    [InlineData(0.2, 12, "is not at most accuracy_threshold 0.1")]   // an error of 0.2 over a ceiling of 0.1: kept whole
    [InlineData(0.05, 6, "mse 0.05 with the group pruned")]          // under the ceiling: pruned as planned
    public void Accuracy_first_reads_a_lower_is_better_score_as_a_ceiling(double error, int kept, string note)
    {
        using var fixture = new TinyFixture(seed: 4);
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new()
        {
            ["ratios"] = "conv2=0.5",
            ["accuracy_first"] = "true",
            ["accuracy_threshold"] = "0.1",
            ["trainset_ratio"] = "0.5",
        }, evaluate: _ => error, score: new Trainer.Abstractions.Tasks.TaskScore("mse", Trainer.Abstractions.Tasks.ScoreDirection.LowerIsBetter)));

        Assert.Equal(kept, fixture.Channels()["conv2"]);
        Assert.Contains(note, result.Layers.Single(n => n.Layer == "conv2").Note);
    }

    [Fact]
    public void Accuracy_first_steps_up_the_kept_count_until_the_threshold_holds()
    {
        using var fixture = new TinyFixture(seed: 4);
        // The evaluator passes once at least 10 of conv2's 12 inputs to conv3 are live (masked inputs read as zero weights
        // would not show here, so it counts the live input channels through a probe forward).
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new()
        {
            ["ratios"] = "conv2=0.5",
            ["accuracy_first"] = "true",
            ["accuracy_threshold"] = "0.9",
            ["trainset_ratio"] = "0.5",
        }, evaluate: model => LiveConv3Inputs(model) >= 10 ? 1.0 : 0.0));

        // 6 planned, then 6 + ceil(6/2) = 9, then 9 + ceil(3/2) = 11.
        Assert.Equal(11, fixture.Channels()["conv2"]);
        Assert.Contains("instead of the planned 6", result.Layers.Single(n => n.Layer == "conv2").Note);
    }

    /// <summary>Input channels of conv3 that are not zeroed, seen by a pre-hook during one forward.</summary>
    private static int LiveConv3Inputs(nn.Module<Tensor, Tensor> model)
    {
        var conv3 = (nn.Module<Tensor, Tensor>)model.named_modules().Single(m => m.name == "conv3").module;
        int live = 0;
        var hook = conv3.register_forward_pre_hook((_, x) =>
        {
            live = (int)x.abs().sum([0, 2, 3]).gt(0).sum().item<long>();
            return x;
        });
        using (NewDisposeScope())
        using (no_grad())
            model.call(randn(4, 3, 8, 8));
        hook.remove();
        return live;
    }
}
