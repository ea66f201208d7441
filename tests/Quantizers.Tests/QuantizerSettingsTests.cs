using Trainer.Abstractions.Quantization;
using Trainer.Plugins.Quantizers;
using static Quantizers.Tests.PluginTestModels;
using static TorchSharp.torch;

namespace Quantizers.Tests;

public class QuantizerSettingsTests
{
    [Fact]
    public void Naive_defaults_to_8bit_symmetric_per_channel_weights_of_every_layer_without_data()
    {
        using var scope = NewDisposeScope();
        var plan = new NaiveQuantizer().Plan(Request(Net(), null));
        Assert.Equal(["conv1", "conv2", "fc"], plan.Layers.Select(l => l.Layer));
        Assert.All(plan.Layers, l =>
        {
            Assert.Equal(new TensorQuantization(8, QuantMethod.Naive, QuantizationScheme.Symmetric, QuantizationGranularity.PerChannel), l.Weight);
            Assert.Null(l.Input);
            Assert.Null(l.Output);
        });
        Assert.False(plan.NeedsCalibration);
        Assert.False(plan.NeedsTraining);
        var perTensor = new NaiveQuantizer().Plan(Request(Net(), null, ("granularity", "per-tensor"), ("scheme", "affine")));
        Assert.All(perTensor.Layers, l => Assert.Equal((QuantizationGranularity.PerTensor, QuantizationScheme.Affine), (l.Weight!.Granularity, l.Weight.Scheme)));
    }

    [Fact]
    public void Bits_by_name_beats_bits_by_type_which_beats_bits_and_exclude_drops_layers()
    {
        using var scope = NewDisposeScope();
        var plan = new NaiveQuantizer().Plan(Request(Net(), null, ("bits", "6"), ("bits_by_type", "Conv2d=4,Linear=8"), ("bits_by_name", "conv2=2"), ("exclude", "conv1")));
        Assert.Equal([("conv2", 2), ("fc", 8)], plan.Layers.Select(l => (l.Layer, l.Weight!.Bits)));
        var typed = new NaiveQuantizer().Plan(Request(Net(), null, ("bits", "6"), ("types", "Linear")));
        Assert.Equal([("fc", 6)], typed.Layers.Select(l => (l.Layer, l.Weight!.Bits)));
    }

    [Fact]
    public void A_container_name_selects_the_layers_under_it()
    {
        using var scope = NewDisposeScope();
        manual_seed(0);
        var model = nn.Sequential(("features", nn.Sequential(("0", nn.Conv2d(1, 2, 3)), ("1", nn.ReLU()), ("2", nn.Conv2d(2, 2, 1)))),
            ("flatten", nn.Flatten()), ("fc", nn.Linear(32, 3)));
        var plan = new NaiveQuantizer().Plan(Request(model, null, ("layers", "features")));
        Assert.Equal(["features.0", "features.2"], plan.Layers.Select(l => l.Layer));
        var error = Assert.Throws<ArgumentException>(() => new NaiveQuantizer().Plan(Request(model, null, ("layers", "features.1"))));
        Assert.Contains("layers names layer 'features.1', a ReLU", error.Message);
    }

    [Theory]
    [InlineData("naive", "bits", "0", "Quantization:Settings:bits is '0', but it must be an integer in [1, 16]")]
    [InlineData("naive", "bits", "17", "Quantization:Settings:bits is '17', but it must be an integer in [1, 16]")]
    [InlineData("lsq", "bits_by_type", "Conv2d=17", "Quantization:Settings:bits_by_type is '17', but it must be a number in [1, 16]")]
    [InlineData("naive", "scheme", "logarithmic", "Quantization:Settings:scheme is 'logarithmic', but it must be one of symmetric, affine")]
    [InlineData("naive", "layers", "bn1", "Quantization:Settings:layers names layer 'bn1', a BatchNorm2d; only Conv2d and Linear layers can be quantized")]
    [InlineData("qat", "bits_by_name", "bn2=8", "Quantization:Settings:bits_by_name names layer 'bn2', a BatchNorm2d; only Conv2d and Linear")]
    [InlineData("naive", "bits_by_type", "BatchNorm2d=8", "Quantization:Settings:bits_by_type names type 'BatchNorm2d'; only Conv2d and Linear")]
    [InlineData("naive", "exclude", "conv9", "Quantization:Settings:layers/exclude: no layer of the model matches 'conv9'")]
    [InlineData("naive", "tensors", "weight,gradient", "Quantization:Settings:tensors lists 'gradient'")]
    [InlineData("naive", "bitz", "8", "naive does not know the setting(s) Quantization:Settings:bitz")]
    [InlineData("lsq", "granularity", "per-channel", "lsq learns one step per tensor")]
    [InlineData("bnn", "bits", "4", "Quantization:Settings:bits is '4', but bnn binarizes")]
    public void A_bad_setting_is_refused_naming_its_key(string quantizer, string key, string value, string message)
    {
        using var scope = NewDisposeScope();
        var model = Net();
        var before = Types(model);
        using var data = Data();
        var error = Assert.Throws<ArgumentException>(() => Quantizer(quantizer).Plan(Request(model, data, (key, value))));
        Assert.Contains(message, error.Message);
        Assert.Equal(before, Types(model));
    }

    [Theory]
    [InlineData("observer")]
    [InlineData("qat")]
    public void Methods_that_calibrate_refuse_a_request_without_data(string quantizer)
    {
        using var scope = NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => Quantizer(quantizer).Plan(Request(Net(), null)));
        Assert.Contains("Quantization:Settings:calibration_batches is ", error.Message);
        Assert.Contains("carries no calibration data", error.Message);
        // QAT can start its EMA ranges from training instead.
        Assert.Equal(0, new QatQuantizer().Plan(Request(Net(), null, ("calibration_batches", "0"))).CalibrationBatches);
    }

    internal static IQuantizer Quantizer(string name) => name switch
    {
        "naive" => new NaiveQuantizer(),
        "observer" => new ObserverQuantizer(),
        "qat" => new QatQuantizer(),
        "dorefa" => new DoReFaQuantizer(),
        "bnn" => new BnnQuantizer(),
        "lsq" => new LearnedStepQuantizer(),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };
}
