using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using TorchSharp;
using static LowRank.Tests.CompressorFixtures;
using static TorchSharp.torch;

namespace LowRank.Tests;

/// <summary>The compressor through the core's model editor: structure, MAC target, notes, data fits, bad input.</summary>
public sealed class LowRankCompressorTests
{
    [Fact]
    public void Full_rank_factorization_reproduces_the_model_outputs()
    {
        using var scope = NewDisposeScope();
        using var original = SmallCnn(seed: 1);
        using var model = CopyOf(original, () => SmallCnn(seed: 99));
        var result = Compress(model, 1.0, new() { ["ranks"] = "conv1=6,conv2=8,fc=5" });

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        Assert.IsType<TorchSharp.Modules.Conv2d>(modules["conv2.0"]);
        Assert.Equal([8L, 6, 3, 3], ((TorchSharp.Modules.Conv2d)modules["conv2.0"]).weight!.shape);
        Assert.Equal([8L, 8, 1, 1], ((TorchSharp.Modules.Conv2d)modules["conv2.1"]).weight!.shape);
        Assert.Equal([5L, 288], ((TorchSharp.Modules.Linear)modules["fc.0"]).weight!.shape);
        Assert.Equal(["conv1", "conv2", "fc"], result.Layers.Select(n => n.Layer));

        manual_seed(4);
        var input = randn(3, 2, 6, 6);
        using var noGrad = no_grad();
        original.eval();
        model.eval();
        var deviation = (original.call(input) - model.call(input)).abs().max().item<float>();
        Assert.True(deviation < 1e-4f, $"max deviation {deviation}");
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.25)]
    public void Conv_macs_after_are_at_most_the_target(double target)
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 2);
        var editor = new ModelEditor(model, InputShape);
        var before = editor.Layers.Where(l => l.Type == "Conv2d").Sum(l => l.Macs);
        var fcBefore = editor.Layers.Single(l => l.Name == "fc").Macs;

        var result = Compress(model, target);
        var after = new ModelEditor(model, InputShape).Layers;
        Assert.True(after.Where(l => l.Name.StartsWith("conv")).Sum(l => l.Macs) <= target * before);
        Assert.Equal(fcBefore, after.Single(l => l.Name == "fc").Macs); // include_linear is false by default
        Assert.Contains(after, l => l.Name == "conv2.1");
        Assert.All(result.Layers, n => Assert.Matches(@"rank \d+ of \d+; MACs \d+ -> \d+; weight error", n.Note));
        Assert.Contains("target 0", result.Summary);
    }

    [Fact]
    public void With_target_of_model_the_whole_model_keeps_at_most_the_target()
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 12);
        var before = new ModelEditor(model, InputShape).Cost.Macs;
        var result = Compress(model, 0.5, new() { ["target_of"] = "model" });
        Assert.True(new ModelEditor(model, InputShape).Cost.Macs <= 0.5 * before);
        Assert.Contains($"model MACs {before} ->", result.Summary);
    }

    [Fact]
    public void A_layer_no_rank_makes_cheaper_is_skipped_with_a_note()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        // conv1 is 1×1 from 2 channels to 2: rank 1 costs 2 + 2 = 4 MACs per position, the layer 4.
        using var model = nn.Sequential(("conv1", nn.Conv2d(2, 2, 1)), ("relu", nn.ReLU()), ("conv2", nn.Conv2d(2, 16, 3, padding: 1)),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(16 * 36, 3)));
        var result = Compress(model, 0.6);
        var conv1 = Assert.Single(result.Layers, n => n.Layer == "conv1");
        Assert.Contains("no rank saves MACs", conv1.Note);
        Assert.Contains(new ModelEditor(model, InputShape).Layers, l => l.Name == "conv1");
        Assert.Matches(@"rank \d+ of 16", Assert.Single(result.Layers, n => n.Layer == "conv2").Note);
        var after = new ModelEditor(model, InputShape).Layers;
        Assert.True(after.Where(l => l.Type == "Conv2d").Sum(l => l.Macs) <= 0.6 * (4 + 18 * 16) * 36);
    }

    [Fact]
    public void Nonlinear_fit_reproduces_post_relu_responses_better_than_svd_at_the_same_rank()
    {
        using var scope = NewDisposeScope();
        using var original = ConvRelu(seed: 5);
        using var data = Images(32, 2, seed: 6);
        double ErrorAfter(bool nonlinear)
        {
            using var model = CopyOf(original, () => ConvRelu(seed: 99));
            using var reference = CopyOf(original, () => ConvRelu(seed: 99));
            var settings = new Dictionary<string, string> { ["ranks"] = "conv=3,head=2", ["nonlinear_case"] = nonlinear ? "true" : "false",
                ["sampled_pixels_per_img"] = "8", ["trainset_ratio"] = "1", ["iterations"] = "4" };
            var result = Compress(model, 1.0, settings, data, reference);
            // The head's channels reach the model output, where no ReLU follows: it gets the linear fit.
            if (nonlinear) Assert.Contains("output layer, no ReLU follows: linear fit", result.Layers.Single(n => n.Layer == "head").Note);
            using var noGrad = no_grad();
            double sum = 0;
            foreach (var batch in data.GetBatches(0))
                sum += (ConvResponse(model, batch.Inputs) - ConvResponse(original, batch.Inputs)).square().sum().item<float>();
            return Math.Sqrt(sum);
        }
        var svd = ErrorAfter(nonlinear: false);
        var fitted = ErrorAfter(nonlinear: true);
        Assert.True(fitted < 0.95 * svd, $"nonlinear {fitted} vs SVD {svd}");
    }

    [Theory]
    [InlineData("ranks", "conv2=9", "conv2", "full rank is 8")]
    [InlineData("ranks", "conv1=0", "conv1", "full rank is 6")]
    [InlineData("ranks", "conv9=2", "conv9", "does not have")]
    [InlineData("ranks", "conv1", "ranks", "layer=rank pairs")]
    [InlineData("ranks", "conv1=2,conv1=3", "conv1", "twice")]
    [InlineData("nonlinear_case", "yes", "nonlinear_case", "true or false")]
    [InlineData("target_of", "all", "target_of", "one of selected, model")]
    [InlineData("rank_selection", "greedy", "rank_selection", "one of energy, uniform")]
    [InlineData("layers", "conv7", "conv7", "no layer of the model matches")]
    [InlineData("exclude", "nope", "nope", "no layer of the model matches")]
    [InlineData("layers", "fc", "include_linear", "only Linear layers")]
    [InlineData("iterations", "0", "iterations", "an integer in [1")]
    [InlineData("rankz", "conv1=2", "rankz", "does not know")]
    public void Bad_settings_throw_naming_the_problem_and_leave_the_model_untouched(string key, string value, string named, string says)
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 7);
        var before = Snapshot(model);
        var error = Assert.Throws<ArgumentException>(() => Compress(model, 0.5, new() { [key] = value }));
        Assert.Contains(named, error.Message);
        Assert.Contains(says, error.Message);
        Assert.True(Unchanged(model, before));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-0.5)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void A_target_ratio_outside_zero_one_throws_and_leaves_the_model_untouched(double target)
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 8);
        var before = Snapshot(model);
        var error = Assert.Throws<ArgumentException>(() => Compress(model, target));
        Assert.Contains("TargetFlopsRatio", error.Message);
        Assert.Contains("(0, 1]", error.Message);
        Assert.True(Unchanged(model, before));
    }

    [Fact]
    public void Data_fits_without_training_data_throw_before_any_edit()
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 9);
        var before = Snapshot(model);
        var error = Assert.Throws<ArgumentException>(() => Compress(model, 0.5, new() { ["nonlinear_case"] = "true" }));
        Assert.Contains("nonlinear_case", error.Message);
        Assert.True(Unchanged(model, before));
    }

    [Fact]
    public void A_sampling_failure_comes_before_any_edit()
    {
        using var scope = NewDisposeScope();
        using var model = SmallCnn(seed: 10);
        using var data = Images(16, 2, seed: 11);
        var before = Snapshot(model);
        // An editor without a reference model cannot sample: the first layer is sampled before anything is factorized.
        var error = Assert.Throws<InvalidOperationException>(() =>
            Compress(model, 0.5, new() { ["asymmetric"] = "true" }, data, reference: null));
        Assert.Contains("reference model", error.Message);
        Assert.True(Unchanged(model, before));
    }
}
