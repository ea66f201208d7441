using System.Text.Json;
using Plugins.Pruners;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>
/// slim, apoz, mean-activation and taylor-fo against NNI v2.10's formulas computed by PyTorch on the same model, weights,
/// batches and training (reference/nni_data_driven.py): the collected metrics, the masks of a config list, the slim
/// regulariser's effect on the BatchNorm scales, and the pruned model.
/// </summary>
public sealed class DataDrivenTests : IDisposable
{
    private const string ConvConfig = """[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""";
    private readonly DataDrivenReference reference = new();

    public void Dispose() => reference.Dispose();

    public static TheoryData<string, string> Collected() => new()
    {
        { "apoz", "apoz" }, { "mean-activation", "mean_activation" }, { "taylor-fo", "taylor_fo" },
    };

    private static (ImportanceCriterion Kind, NniPrunerCompressor Compressor) Pruner(string name) => name switch
    {
        "apoz" => (ImportanceCriterion.Apoz, new ApozPrunerCompressor()),
        "mean-activation" => (ImportanceCriterion.MeanActivation, new MeanActivationPrunerCompressor()),
        "taylor-fo" => (ImportanceCriterion.TaylorFo, new TaylorFoPrunerCompressor()),
        _ => (ImportanceCriterion.Slim, new SlimPrunerCompressor()),
    };

    private CompressionRequest Request(nn.Module<Tensor, Tensor> model, string configList, Dictionary<string, string>? extra = null,
        Action<TaskTraining>? train = null) => new()
    {
        Model = model,
        ExampleInputShape = [1, 3, 8, 8],
        Editor = new ModelEditor(model, [1, 3, 8, 8], new Trainer.Core.Pruning.ShrinkOptions { RoundTo = 1 }),
        Settings = new Dictionary<string, string>(extra ?? []) { ["config_list"] = configList, ["training_steps"] = "3" },
        Train = train,
    };

    [Theory]
    [MemberData(nameof(Collected))]
    public void Metrics_collected_over_three_training_steps_equal_NNIs_formula_computed_by_PyTorch(string pruner, string key)
    {
        var (kind, _) = Pruner(pruner);
        using var model = reference.Model();
        var layers = new[] { "conv1", "conv2", "fc" };
        var settings = PrunerSettings.Read(new Dictionary<string, string> { ["config_list"] = ConvConfig, ["training_steps"] = "3" }, pruner, kind);
        var targets = layers.Select(l => new LayerTarget(l, l == "fc" ? "Linear" : "Conv2d", 0.5, null)).ToList();
        var request = Request(model, ConvConfig, train: reference.Training(model));
        var metrics = DataCollectors.Collect(request, kind, settings, targets, pruner)!;
        try
        {
            foreach (var layer in layers)
            {
                var expected = reference.Root.GetProperty(key).GetProperty(layer).GetProperty("metric").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                var actual = metrics[layer].to(ScalarType.Float64).data<double>().ToArray();
                Assert.Equal(expected.Length, actual.Length);
                // APoZ is a count over 768 positions (exact up to float rounding); the others carry float32 training noise.
                var tolerance = kind == ImportanceCriterion.Apoz ? 1e-6 : 1e-4 * expected.Max(Math.Abs);
                for (var c = 0; c < expected.Length; c++)
                    Assert.True(Math.Abs(expected[c] - actual[c]) <= tolerance, $"{pruner} {layer}[{c}]: {actual[c]} vs NNI {expected[c]}");
            }
        }
        finally
        {
            foreach (var m in metrics.Values) m.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Collected))]
    public void The_compressor_removes_the_channels_NNIs_masks_drop_and_keeps_the_trained_weights_of_the_rest(string pruner, string key)
    {
        var (_, compressor) = Pruner(pruner);
        using var model = reference.Model();
        using var twin = reference.Model();
        reference.Training(twin)(new TaskTraining { MaxSteps = 3 });
        var result = compressor.Compress(Request(model, ConvConfig, train: reference.Training(model)));

        var convs = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var twins = twin.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var layer in new[] { "conv1", "conv2" })
        {
            var kept = reference.Root.GetProperty(key).GetProperty(layer).GetProperty("kept").EnumerateArray().Select(v => v.GetInt64()).ToArray();
            var weight = ((TorchSharp.Modules.Conv2d)convs[layer]).weight!;
            var trained = ((TorchSharp.Modules.Conv2d)twins[layer]).weight!.index_select(0, tensor(kept));
            Assert.Equal(kept.Length, weight.shape[0]);
            // conv2 also lost conv1's dropped input channels.
            if (layer == "conv2")
                trained = trained.index_select(1, tensor(reference.Root.GetProperty(key).GetProperty("conv1").GetProperty("kept").EnumerateArray().Select(v => v.GetInt64()).ToArray()));
            Assert.True(weight.allclose(trained, rtol: 0, atol: 1e-6), $"{pruner} {layer}: kept rows differ from the trained model's [{string.Join(",", kept)}]");
        }
        Assert.Contains("conv1", result.Summary + string.Join(" ", result.Layers.Select(l => l.Layer)));
        using var output = model.call(zeros(2, 3, 8, 8));
        Assert.Equal([2L, 10], output.shape);
    }

    [Fact]
    public void Slims_regulariser_lowers_the_BatchNorm_scales_L1_as_NNIs_loss_patch_does_and_global_masks_match()
    {
        using var model = reference.Model();
        var slim = reference.Root.GetProperty("slim");
        var settings = new Dictionary<string, string> { ["scale"] = slim.GetProperty("l1_before").GetDouble() > 0 ? reference.Root.GetProperty("scale").GetRawText() : "0" };
        var request = Request(model, """[{"op_types": ["BatchNorm2d"], "total_sparsity": 0.5}]""", settings, reference.Training(model));
        var read = PrunerSettings.Read(new Dictionary<string, string>(request.Settings.Where(s => s.Key != "training_steps").ToDictionary()), "slim", ImportanceCriterion.Slim);
        Assert.Equal(PruningMode.Global, read.Mode);
        var targets = MaskPlanner.Targets(model, ImportanceCriterion.Slim, read.Mode, read.ConfigList, "c");
        Assert.Equal(["bn1", "bn2"], targets.Select(t => t.Name));
        Assert.Null(DataCollectors.Collect(request, ImportanceCriterion.Slim, read, targets, "slim"));

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        double l1 = 0;
        foreach (var bn in new[] { "bn1", "bn2" })
        {
            var gamma = ((TorchSharp.Modules.BatchNorm2d)modules[bn]).weight!;
            var expected = slim.GetProperty("gamma").GetProperty(bn).EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Assert.True(gamma.allclose(tensor(expected), rtol: 1e-4, atol: 1e-6), $"{bn}'s γ after slim's training differs from PyTorch's");
            l1 += gamma.abs().sum().item<float>();
        }
        Assert.Equal(slim.GetProperty("l1_after").GetDouble(), l1, 4);
        // The same training without the term leaves a larger L1 (25.524 against 25.164 with λ = 0.05).
        Assert.True(l1 < reference.Root.GetProperty("plain").GetProperty("l1_after").GetDouble() - 0.3);

        using var masks = MaskPlanner.Plan(model, ImportanceCriterion.Slim, read.Mode, read.ConfigList, null, "c");
        foreach (var bn in new[] { "bn1", "bn2" })
            Assert.Equal(slim.GetProperty("kept").GetProperty(bn).EnumerateArray().Select(v => v.GetInt32()), masks.KeptChannels(bn));
        var notes = DataCollectors.ShrinkFromBatchNorm(request, masks);
        Assert.Contains(notes, n => n.Layer == "bn1" && n.Note.Contains("'conv1'"));
        Assert.Equal([2L, 3, 3, 3], ((TorchSharp.Modules.Conv2d)modules["conv1"]).weight!.shape);
        Assert.Equal([10L, 2, 3, 3], ((TorchSharp.Modules.Conv2d)modules["conv2"]).weight!.shape);
        Assert.Equal([10L], ((TorchSharp.Modules.BatchNorm2d)modules["bn2"]).weight!.shape);
    }

    [Fact]
    public void BatchNorms_are_traced_to_the_layer_whose_output_they_read()
    {
        using var model = reference.Model();
        Assert.Equal(new Dictionary<string, string> { ["bn1"] = "conv1", ["bn2"] = "conv2" }, BatchNormProducers.Find(model, [1, 3, 8, 8]));
    }

    [Theory]
    [InlineData("slim", """[{"op_types": ["Conv2d"], "total_sparsity": 0.5}]""", "op_types: unknown op type 'Conv2d'; this pruner prunes BatchNorm2d")]
    [InlineData("apoz", """[{"op_types": ["BatchNorm2d"], "sparsity_per_layer": 0.5}]""", "unknown op type 'BatchNorm2d'; this pruner prunes Conv2d, Linear")]
    [InlineData("taylor-fo", """[{"op_types": ["Conv2d"], "sparsity_per_layer": 1.0}]""", "config_list[0].sparsity_per_layer is 1")]
    [InlineData("mean-activation", """[{"op_names": ["conv3"], "sparsity_per_layer": 0.5}]""", "the model has no module 'conv3'; closest: conv1, conv2")]
    [InlineData("slim", """[{"op_types": ["BatchNorm2d"], "sparsity_per_layer": 0.5}]""", "mode global prunes to one total_sparsity")]
    public void Bad_config_lists_fail_before_any_training_with_the_existing_messages(string pruner, string configList, string message)
    {
        var (_, compressor) = Pruner(pruner);
        using var model = reference.Model();
        var extra = pruner == "slim" ? new Dictionary<string, string>() : null;
        var request = Request(model, configList, extra, _ => throw new InvalidOperationException("trained before the config list was checked"));
        if (pruner == "slim") request = new CompressionRequest
        {
            Model = request.Model, ExampleInputShape = request.ExampleInputShape, Editor = request.Editor, Train = request.Train,
            Settings = new Dictionary<string, string> { ["config_list"] = configList },
        };
        var error = Assert.ThrowsAny<ArgumentException>(() => compressor.Compress(request));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Modes_and_settings_are_NNIs_and_a_host_without_training_is_named()
    {
        Assert.Contains("apoz takes normal, dependency_aware", Assert.ThrowsAny<ArgumentException>(() => new ApozPrunerCompressor().CheckSettings(
            new Dictionary<string, string> { ["config_list"] = ConvConfig, ["mode"] = "global" })).Message);
        Assert.Contains("Compression:Settings:activation is 'tanh'", Assert.ThrowsAny<ArgumentException>(() => new MeanActivationPrunerCompressor().CheckSettings(
            new Dictionary<string, string> { ["config_list"] = ConvConfig, ["activation"] = "tanh" })).Message);
        Assert.Contains("does not know the setting(s) Compression:Settings:scale", Assert.ThrowsAny<ArgumentException>(() => new TaylorFoPrunerCompressor().CheckSettings(
            new Dictionary<string, string> { ["config_list"] = ConvConfig, ["scale"] = "0.1" })).Message);
        var slim = PrunerSettings.Read(new Dictionary<string, string> { ["config_list"] = """[{"total_sparsity": 0.3}]""" }, "slim", ImportanceCriterion.Slim);
        Assert.Equal((PruningMode.Global, 1, 0.0001), (slim.Mode, slim.TrainingEpochs, slim.Scale));

        using var model = reference.Model();
        var error = Assert.Throws<InvalidOperationException>(() => new TaylorFoPrunerCompressor().Compress(Request(model, ConvConfig)));
        Assert.Contains("this host offers no training (CompressionRequest.Train, contract 1.2)", error.Message);
    }
}
