using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using Trainer.Plugins.Quantizers;
using TorchSharp;
using TorchSharp.Modules;
using static Quantizers.Tests.PluginTestModels;
using static TorchSharp.torch;

namespace Quantizers.Tests;

public class QuantizerPlanTests
{
    [Fact]
    public void Observer_calibrates_input_ranges_to_the_data_min_and_max()
    {
        using var scope = NewDisposeScope();
        var model = Net();
        using var data = Data(samples: 12, batch: 4);
        var plan = new ObserverQuantizer().Plan(Request(model, data, ("calibration_batches", "2")));
        Assert.Equal(2, plan.CalibrationBatches);
        Assert.All(plan.Layers, l => Assert.Equal(new TensorQuantization(8, QuantMethod.MinMax, QuantizationScheme.Affine, Unsigned: true), l.Input));
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(plan);
        Assert.Equal(2, session.Calibrate(data, plan.CalibrationBatches));

        // conv1 reads the raw data: its range is [min, max] of the first two batches (8 samples).
        var seen = cat(data.GetBatches(0).Take(2).Select(b => b.Inputs).ToList(), 0);
        float lo = seen.min().item<float>(), hi = seen.max().item<float>();
        var q = session.Layers[0].InputQuantizer!;
        Assert.Equal((hi - lo) / 255, q.Scale!.item<float>(), 6);
        Assert.Equal((long)Math.Round(-lo / ((hi - lo) / 255)), q.ZeroPoint!.item<long>());
    }

    [Fact]
    public void Bnn_keeps_the_first_and_last_layers_float_unless_told_otherwise()
    {
        using var scope = NewDisposeScope();
        var plan = new BnnQuantizer().Plan(Request(Net(), null));
        var only = Assert.Single(plan.Layers);
        Assert.Equal(new LayerQuantization("conv2", new(1, QuantMethod.Binary), null, new(1, QuantMethod.Binary)), only);
        Assert.True(plan.NeedsTraining);

        var model = Net();
        new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance).Apply(plan);
        var types = Types(model);
        Assert.Equal((typeof(Conv2d), typeof(QuantizedLayer), typeof(Linear)), (types["conv1"], types["conv2"], types["fc"]));

        var all = new BnnQuantizer().Plan(Request(Net(), null, ("keep_first_last", "false")));
        Assert.Equal(["conv1", "conv2", "fc"], all.Layers.Select(l => l.Layer));
    }

    [Fact]
    public void Lsq_plans_4bit_steps_unsigned_after_the_first_layer_and_its_steps_learn()
    {
        using var scope = NewDisposeScope();
        var model = Net();
        Assert.Contains("calibration_batches", Assert.Throws<ArgumentException>(() => new LearnedStepQuantizer().Plan(Request(model, null))).Message);
        var plan = new LearnedStepQuantizer().Plan(Request(model, null, ("calibration_batches", "0")));
        Assert.Equal([false, true, true], plan.Layers.Select(l => l.Input!.Unsigned));
        Assert.All(plan.Layers, l => Assert.Equal((4, QuantMethod.Lsq), (l.Weight!.Bits, l.Weight.Method)));
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        session.Apply(plan);
        var optimizer = optim.SGD(model.parameters(), 0.01);
        using var data = Data();
        var batch = data.GetBatches(0).First();
        model.train();
        nn.functional.cross_entropy(model.call(batch.Inputs), batch.Targets).backward();
        foreach (var layer in session.Layers)
            foreach (var q in layer.Quantizers)
                Assert.True(q.Step!.grad is { } g && g.item<float>() != 0, $"{layer.Path} {q.Role} step has no gradient");
        var before = session.Layers[2].WeightQuantizer!.Step!.item<float>();
        optimizer.step();
        Assert.NotEqual(before, session.Layers[2].WeightQuantizer!.Step!.item<float>());
    }

    [Fact]
    public void Qat_folds_batchnorm_only_when_asked_and_moves_its_ranges_while_training()
    {
        using var scope = NewDisposeScope();
        using var data = Data();
        var unfolded = new QatQuantizer().Plan(Request(Net(), data));
        Assert.False(unfolded.FoldBatchNorm);
        Assert.Equal(8, unfolded.CalibrationBatches);
        Assert.All(unfolded.Layers, l => Assert.Equal(QuantMethod.MovingAverage, l.Input!.Method));

        var model = Net();
        var plan = new QatQuantizer().Plan(Request(model, data, ("fold_bn", "true"), ("averaging_constant", "0.5")));
        Assert.True(plan.FoldBatchNorm);
        var session = new QuantizationSession(model, [1, 1, 6, 6], NullLogger.Instance);
        var applied = session.Apply(plan);
        Assert.Equal([new FoldedBatchNorm("conv1", "bn1"), new FoldedBatchNorm("conv2", "bn2")], applied.Folded);
        Assert.Equal(typeof(Identity), Types(model)["bn1"]);
        session.Calibrate(data, plan.CalibrationBatches);
        var q = session.Layers[0].InputQuantizer!;
        var calibrated = q.Scale!.item<float>();
        model.train();
        using (no_grad()) model.call(randn(4, 1, 6, 6) * 10);
        Assert.True(q.Scale!.item<float>() > calibrated * 2, "EMA range did not follow a wider training batch");
    }

    [Fact]
    public void Dorefa_leaves_the_raw_data_input_float_and_quantizes_the_rest_to_4_bits()
    {
        using var scope = NewDisposeScope();
        var plan = new DoReFaQuantizer().Plan(Request(Net(), null));
        Assert.Null(plan.Layers[0].Input);
        Assert.Equal(new TensorQuantization(4, QuantMethod.DoReFa), plan.Layers[1].Input);
        Assert.All(plan.Layers, l => Assert.Equal(new TensorQuantization(4, QuantMethod.DoReFa), l.Weight));
    }
}
