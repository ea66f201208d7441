using Plugins.ChannelPruning;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

public sealed class BadInputTests
{
    [Theory]
    [InlineData("method", "svd", "method")]
    [InlineData("trainset_ratio", "0", "trainset_ratio")]
    [InlineData("trainset_ratio", "1.5", "trainset_ratio")]
    [InlineData("sampled_pixels_per_img", "0", "sampled_pixels_per_img")]
    [InlineData("lars_alpha_init", "0", "lars_alpha_init")]
    [InlineData("reconstruct", "maybe", "reconstruct")]
    [InlineData("ratios", "conv1=1", "ratios")]
    [InlineData("ratios", "conv1=0", "ratios")]
    [InlineData("ratios", "conv9=0.5", "conv9")]
    [InlineData("ratios", "fc=0.5", "fc")]
    [InlineData("skip_layers", "conv1,layer4", "layer4")]
    [InlineData("accuracy_threshold", "high", "accuracy_threshold")]
    [InlineData("accuracy_first", "true", "accuracy_threshold")]
    [InlineData("colour", "red", "colour")]
    public void A_bad_setting_is_named_and_nothing_changes(string key, string value, string named)
    {
        using var fixture = new TinyFixture();
        var error = Assert.ThrowsAny<ArgumentException>(() =>
            new ChannelPruningCompressor().Compress(fixture.Request(new() { [key] = value }, target: 0.5)));
        Assert.Contains(named, error.Message);
        AssertUnchanged(fixture);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_flops_target_outside_zero_one_is_named(double target)
    {
        using var fixture = new TinyFixture();
        var error = Assert.Throws<ArgumentException>(() => new ChannelPruningCompressor().Compress(fixture.Request(new(), target: target)));
        Assert.Contains("TargetFlopsRatio", error.Message);
        AssertUnchanged(fixture);
    }

    [Fact]
    public void Lasso_without_training_data_is_refused_and_l1_needs_none()
    {
        using var fixture = new TinyFixture();
        long before = fixture.Editor.Cost.Macs;
        var error = Assert.Throws<ArgumentException>(() => new ChannelPruningCompressor().Compress(fixture.Request(new(), target: 0.5, noData: true)));
        Assert.Contains("TrainingData", error.Message);
        AssertUnchanged(fixture);

        new ChannelPruningCompressor().Compress(fixture.Request(new() { ["method"] = "l1" }, target: 0.5, noData: true));
        Assert.True(fixture.Editor.Cost.Macs <= 0.5 * before);
    }

    [Fact]
    public void Accuracy_first_without_an_evaluator_is_refused()
    {
        using var fixture = new TinyFixture();
        var error = Assert.Throws<ArgumentException>(() => new ChannelPruningCompressor().Compress(fixture.Request(
            new() { ["accuracy_first"] = "true", ["accuracy_threshold"] = "0.5" }, target: 0.5)));
        Assert.Contains("accuracy_first", error.Message);
        AssertUnchanged(fixture);
    }

    [Fact]
    public void An_unreachable_flops_target_is_refused_before_any_edit()
    {
        using var fixture = new TinyFixture();
        var error = Assert.Throws<ArgumentException>(() => new ChannelPruningCompressor().Compress(fixture.Request(new(), target: 0.001)));
        Assert.Contains("TargetFlopsRatio", error.Message);
        AssertUnchanged(fixture);
    }

    private static void AssertUnchanged(TinyFixture fixture)
    {
        Assert.Empty(fixture.Editor.Edits);
        Assert.Equal(0, fixture.OutputError());
    }
}
