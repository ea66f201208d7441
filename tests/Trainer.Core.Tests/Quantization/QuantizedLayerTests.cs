using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Quantization.QuantTestModels;

namespace Trainer.Core.Tests.Quantization;

public class QuantizedLayerTests
{
    [Fact]
    public void Linear_output_equals_manual_per_channel_weight_and_calibrated_input_fake_quant()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var fc = nn.Linear(6, 3);
        var model = nn.Sequential(("fc", fc));
        var session = new QuantizationSession(model, [1, 6], NullLogger.Instance);
        var plan = Plan(new TensorQuantization(8, QuantMethod.Naive, Granularity: QuantizationGranularity.PerChannel),
            new TensorQuantization(8, QuantMethod.MinMax, QuantizationScheme.Affine, Unsigned: true), null, false, "fc");
        session.Apply(plan);
        using var data = Loader([8, 6], 4);
        Assert.Equal(2, session.Calibrate(data, 5));

        // Manual math with plain ops: the weight's per-row scale max|w|/127.5, the input's affine quint8 range [min, max] ∪ 0.
        var w = fc.weight.detach();
        var sw = w.abs().amax(new long[] { 1 }, keepdim: true) / 127.5f;
        var wq = (w * (1f / sw)).round().clamp(-128, 127) * sw;
        var all = data.GetBatches(0).Select(b => b.Inputs).ToList();
        float lo = Math.Min(0f, all.Min(t => t.min().item<float>())), hi = Math.Max(0f, all.Max(t => t.max().item<float>()));
        float sx = (hi - lo) / 255f;
        float zx = Math.Clamp(0 - MathF.Round(lo / sx), 0, 255);
        var x = randn(5, 6) * 1.5f;
        var xq = ((x * (1f / sx)).round() + zx).clamp(0, 255).sub(zx) * sx;
        var expected = xq.matmul(wq.t()) + fc.bias!.detach();

        var layer = Assert.Single(session.Layers);
        Assert.Equal(sx, layer.InputQuantizer!.Scale!.item<float>(), 6);
        Assert.Equal((long)zx, layer.InputQuantizer.ZeroPoint!.item<long>());
        model.eval();
        var actual = model.call(x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max diff {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Conv_output_equals_manual_4bit_affine_weight_and_moving_average_output()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var conv = nn.Conv2d(2, 3, 3, stride: 2, padding: 1);
        var model = nn.Sequential(("conv", conv));
        var session = new QuantizationSession(model, [1, 2, 5, 5], NullLogger.Instance);
        session.Apply(Plan(new TensorQuantization(4, QuantMethod.Naive, QuantizationScheme.Affine), null,
            new TensorQuantization(8, QuantMethod.MovingAverage, AveragingConstant: 0.5), false, "conv"));
        var a = randn(2, 2, 5, 5);
        var b = randn(2, 2, 5, 5) * 3;
        model.train();
        using (no_grad()) { model.call(a); model.call(b); }

        // Weight: affine 4-bit over [min(w,0), max(w,0)], levels [-8, 7].
        var w = conv.weight.detach();
        float wlo = Math.Min(0, w.min().item<float>()), whi = Math.Max(0, w.max().item<float>());
        float sw = (whi - wlo) / 15f;
        float zw = Math.Clamp(-8 - MathF.Round(wlo / sw), -8, 7);
        var wq = ((w * (1f / sw)).round() + zw).clamp(-8, 7).sub(zw) * sw;
        // Output: EMA with c = 0.5 of the two batches' ranges of the float conv with the quantized weight.
        Tensor Raw(Tensor x) => nn.functional.conv2d(x, wq, conv.bias!.detach(), strides: [2, 2], padding: [1, 1]);
        var (ya, yb) = (Raw(a), Raw(b));
        float min = ya.min().item<float>() + 0.5f * (yb.min().item<float>() - ya.min().item<float>());
        float max = ya.max().item<float>() + 0.5f * (yb.max().item<float>() - ya.max().item<float>());
        float so = Math.Max(-Math.Min(min, 0), Math.Max(max, 0)) / 127.5f;

        model.eval();
        var x = randn(1, 2, 5, 5);
        var expected = (Raw(x) * (1f / so)).round().clamp(-128, 127) * so;
        var actual = model.call(x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max diff {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void Activation_ranges_update_in_training_and_calibration_and_stay_frozen_in_eval()
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(("fc", nn.Linear(4, 2)));
        var session = new QuantizationSession(model, [1, 4], NullLogger.Instance);
        session.Apply(Plan(null, new TensorQuantization(8, QuantMethod.MinMax, QuantizationScheme.Affine), null, false, "fc"));
        var q = session.Layers[0].InputQuantizer!;
        model.eval();
        var error = Assert.Throws<InvalidOperationException>(() => model.call(ones(1, 4)));
        Assert.Contains("'fc'", error.Message);

        model.train();
        model.call(tensor(new[] { -1f, 0f, 2f, 0.5f }).reshape(1, 4));
        Assert.Equal(3f / 255, q.Scale!.item<float>(), 6);
        model.eval();
        model.call(tensor(new[] { -10f, 0f, 20f, 0.5f }).reshape(1, 4));
        Assert.Equal(3f / 255, q.Scale!.item<float>(), 6); // frozen

        using var data = new Trainer.Core.Data.TensorBatchLoader(tensor(new[] { -4f, 0f, 4f, 1f }).reshape(1, 4), zeros(1, ScalarType.Int64), 1, false);
        session.Calibrate(data, 1);
        Assert.Equal(8f / 255, q.Scale!.item<float>(), 6); // calibration updates in eval mode
        Assert.False(model.training);
    }

    [Fact]
    public void Lsq_steps_of_weight_and_input_receive_gradients_and_start_at_the_paper_value()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        var fc = nn.Linear(8, 4);
        var model = nn.Sequential(("fc", fc));
        var session = new QuantizationSession(model, [1, 8], NullLogger.Instance);
        session.Apply(Plan(new TensorQuantization(4, QuantMethod.Lsq), new TensorQuantization(4, QuantMethod.Lsq, Unsigned: true), null, false, "fc"));
        var layer = session.Layers[0];
        var expectedStep = fc.weight.detach().abs().mean().item<float>() * 2 / MathF.Sqrt(7);
        Assert.Equal(expectedStep, layer.WeightQuantizer!.Step!.item<float>(), 6);
        Assert.Contains(model.parameters(), p => ReferenceEquals(p, layer.WeightQuantizer.Step));

        model.train();
        var x = randn(6, 8).abs();
        model.call(x).pow(2).sum().backward();
        Assert.Equal(x.abs().mean().item<float>() * 2 / MathF.Sqrt(15), layer.InputQuantizer!.Step!.item<float>(), 5);
        foreach (var step in new[] { layer.WeightQuantizer.Step, layer.InputQuantizer.Step })
        {
            Assert.NotNull(step!.grad);
            Assert.NotEqual(0f, step.grad!.item<float>());
        }
        Assert.NotEqual(0f, fc.weight.grad!.abs().sum().item<float>());
    }

    [Fact]
    public void Binary_and_dorefa_weights_take_their_methods_values()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        var model = nn.Sequential(("a", nn.Linear(5, 3)), ("b", nn.Linear(3, 2)));
        var session = new QuantizationSession(model, [1, 5], NullLogger.Instance);
        var plan = new QuantizationPlan("test", [
            new LayerQuantization("a", new TensorQuantization(1, QuantMethod.Binary), null, null),
            new LayerQuantization("b", new TensorQuantization(2, QuantMethod.DoReFa), null, null)], 0, true, false, "");
        session.Apply(plan);
        var a = session.Layers[0].EffectiveWeight();
        var alpha = session.Layers[0].Weight.detach().abs().mean(new long[] { 1 }, keepdim: true);
        Assert.True(a.abs().allclose(alpha.expand_as(a)));
        var b = session.Layers[1].EffectiveWeight();
        var levels = b.reshape(-1).data<float>().Select(v => MathF.Round(v * 3, 3)).Distinct().ToList();
        Assert.All(levels, l => Assert.Contains(l, new[] { -3f, -1f, 1f, 3f }));
    }

    [Fact]
    public void Folding_a_batchnorm_keeps_eval_outputs()
    {
        using var scope = NewDisposeScope();
        var model = ConvNet();
        model.eval();
        var x = randn(3, 1, 6, 6);
        var before = model.call(x);
        var pairs = BatchNormFolder.FindPairs(model, [1, 1, 6, 6], ["conv", "fc"], NullLogger.Instance);
        Assert.Equal([new FoldedBatchNorm("conv", "bn")], pairs);
        BatchNormFolder.Fold(model, pairs[0]);
        Assert.IsType<Identity>(Modules(model)["bn"]);
        Assert.True(model.call(x).allclose(before, rtol: 0, atol: 1e-5));
    }
}
