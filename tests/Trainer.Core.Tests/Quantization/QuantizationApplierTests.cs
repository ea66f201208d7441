using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Quantization;

public class QuantizationApplierTests
{
    private static readonly TensorQuantization Int8 = new(8, QuantMethod.Naive);

    private static readonly Dictionary<string, (QuantizationPlan Plan, string Message)> BadPlans = new()
    {
        ["bits 0"] = (Plan(Int8 with { Bits = 0 }, null, null, false, "conv", "fc"), "layer 'conv' weight: bits must be between 1 and 16; got 0"),
        ["bits 17"] = (Plan(null, Int8 with { Bits = 17, Method = QuantMethod.MinMax }, null, false, "fc"), "layer 'fc' input: bits must be between 1 and 16; got 17"),
        ["batchnorm"] = (Plan(Int8, null, null, false, "conv", "bn"), "layer 'bn' is a BatchNorm2d; only Conv2d and Linear layers can be quantized"),
        ["missing"] = (Plan(Int8, null, null, false, "fc3"), "layer 'fc3' is not in the model"),
        ["observer weight"] = (Plan(Int8 with { Method = QuantMethod.Percentile }, null, null, false, "fc"), "layer 'fc' weight: Percentile tracks activations"),
        ["per-channel input"] = (Plan(null, Int8 with { Method = QuantMethod.MinMax, Granularity = QuantizationGranularity.PerChannel }, null, false, "fc"), "layer 'fc' input: per-channel"),
    };

    [Theory]
    [InlineData("bits 0")]
    [InlineData("bits 17")]
    [InlineData("batchnorm")]
    [InlineData("missing")]
    [InlineData("observer weight")]
    [InlineData("per-channel input")]
    public void A_bad_plan_is_refused_naming_the_layer_before_the_model_changes(string name)
    {
        var (plan, message) = BadPlans[name];
        using var scope = NewDisposeScope();
        var model = ConvNet();
        var before = Modules(model).ToDictionary(kv => kv.Key, kv => kv.Value.GetType());
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        var error = Assert.Throws<ArgumentException>(() => session.Apply(plan));
        Assert.Contains(message, error.Message);
        Assert.Equal(before, Modules(model).ToDictionary(kv => kv.Key, kv => kv.Value.GetType()));
        Assert.Null(session.Applied);
    }

    [Fact]
    public void Calibration_without_data_is_refused()
    {
        using var scope = NewDisposeScope();
        var session = new QuantizationSession(ConvNet(), [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(Plan(Int8, Int8 with { Method = QuantMethod.MinMax }, null, false, "fc"));
        var error = Assert.Throws<ArgumentException>(() => session.Calibrate(null, 4));
        Assert.Contains("needs calibration data", error.Message);
    }

    [Fact]
    public void Apply_wraps_the_selected_layers_in_place_and_folds_on_request()
    {
        using var scope = NewDisposeScope();
        var model = ConvNet();
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        var applied = session.Apply(Plan(Int8, null, null, true, "conv", "fc"));
        var modules = Modules(model);
        Assert.Equal(["conv", "fc"], applied.Layers.Select(l => l.Path));
        Assert.Same(applied.Layers[0], modules["conv"]);
        Assert.IsType<Conv2d>(modules["conv.layer"]);
        Assert.IsType<Identity>(modules["bn"]);
        Assert.Equal([new FoldedBatchNorm("conv", "bn")], applied.Folded);
        Assert.Equal([1, 5], model.call(randn(1, 1, 6, 6)).shape);
    }
}
