using Trainer.Core.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Quantization;

public class TrainableQuantizerTests
{
    [Fact]
    public void Lsq_forward_values_and_gradients_on_a_known_input()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -1f, -0.3f, 0.2f, 0.55f, 2f }).requires_grad_();
        var s = tensor(0.25f).requires_grad_();
        var p = new QuantParams(3); // [-4, 3]
        var y = LsqQuantizer.Apply(x, s, p);
        // x/s = [-4, -1.2, 0.8, 2.2, 8] → clamp → round [-4, -1, 1, 2, 3] → · 0.25.
        Assert.Equal(new[] { -1f, -0.25f, 0.25f, 0.5f, 0.75f }, y.data<float>().ToArray());
        y.sum().backward();
        Assert.NotNull(s.grad);
        // ds: (round(v) - v) inside = 0, 0.2, 0.2, -0.2; clamped at qmax: 3. Sum 3.2, times g = 1/sqrt(5·3).
        Assert.Equal(3.2 / Math.Sqrt(15), s.grad!.item<float>(), 5);
        Assert.Equal(new[] { 1f, 1f, 1f, 1f, 0f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Lsq_initial_step_and_grad_scale()
    {
        using var scope = NewDisposeScope();
        var w = tensor(new[] { 1f, -1f, 3f, -3f });
        Assert.Equal((float)(4 / Math.Sqrt(127)), LsqQuantizer.InitialStep(w, 127).item<float>(), 6);
        Assert.Equal(1 / Math.Sqrt(4 * 127.0), LsqQuantizer.GradScaleFactor(4, 127), 12);
        var s = tensor(2f).requires_grad_();
        var g = Ste.GradScale(s, 0.1);
        Assert.Equal(2f, g.item<float>());
        (g * 3).backward();
        Assert.Equal(0.3f, s.grad!.item<float>(), 6);
    }

    [Fact]
    public void DoReFa_two_bit_weights_produce_exactly_the_expected_levels()
    {
        using var scope = NewDisposeScope();
        var w = tensor(new[] { -2f, -0.5f, 0f, 0.3f, 1f }).requires_grad_();
        var q = DoReFa.QuantizeWeights(w, 2);
        // tanh/(2·max|tanh|)+0.5 = [0, 0.2603, 0.5, 0.6511, 0.8950]; ·3 → round [0, 1, 2 (1.5 half to even), 2, 3] → 2q/3 - 1.
        var expected = new[] { 0f, 1f, 2f, 2f, 3f }.Select(k => 2 * (k / 3f) - 1).ToArray();
        Assert.Equal(expected, q.data<float>().ToArray());
        var levels = new[] { -1f, 2 * (1f / 3) - 1, 2 * (2f / 3) - 1, 1f };
        Assert.All(q.data<float>().ToArray(), v => Assert.Contains(v, levels));
        q.sum().backward();
        Assert.NotNull(w.grad);
        Assert.True(w.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void DoReFa_activations_clamp_then_quantize()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -0.5f, 0.1f, 0.2f, 0.5f, 0.9f, 1.5f }).requires_grad_();
        var q = DoReFa.QuantizeActivations(x, 2);
        Assert.Equal(new[] { 0f, 0f, 1f / 3, 2f / 3, 1f, 1f }, q.data<float>().ToArray());
        q.sum().backward();
        Assert.Equal(new[] { 0f, 1f, 1f, 1f, 1f, 0f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Binarize_sign_maps_zero_to_plus_one_with_hardtanh_gradient()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { -2f, -1f, -0.5f, 0f, 0.5f, 1f, 2f }).requires_grad_();
        var y = Binarize.Sign(x);
        Assert.Equal(new[] { -1f, -1f, -1f, 1f, 1f, 1f, 1f }, y.data<float>().ToArray());
        y.sum().backward();
        Assert.Equal(new[] { 0f, 1f, 1f, 1f, 1f, 1f, 0f }, x.grad!.data<float>().ToArray());
    }

    [Fact]
    public void Binarized_weights_hold_only_plus_or_minus_the_channel_scale()
    {
        using var scope = NewDisposeScope();
        var w = randn(new long[] { 4, 3, 3, 3 }, generator: new Generator(7)).requires_grad_();
        var b = Binarize.ScaledWeights(w);
        var alpha = w.detach().abs().mean(new long[] { 1, 2, 3 });
        for (int c = 0; c < 4; c++)
        {
            var a = alpha[c].item<float>();
            var values = b[c].detach().flatten().data<float>().ToArray();
            Assert.All(values, v => Assert.True(v == a || v == -a, $"{v} is not ±{a}"));
            Assert.Contains(a, values);
            Assert.Contains(-a, values);
        }
        b.sum().backward();
        Assert.NotNull(w.grad);
    }
}
