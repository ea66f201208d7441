using Trainer.Core.Inference;
using Trainer.Core.Runtime;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Runtime;

/// <summary>The start-up check of libtorch's convolutions: whatever the CPU, the kernels left in force compute right.</summary>
[Trait("Category", "Numeric")]
public sealed class ConvKernelsTests
{
    [Fact]
    public void The_kernels_in_force_compute_every_self_test_shape_right_forward_and_backward()
    {
        // Trainer.Core's module initializer ran the self-test; where oneDNN failed it, it was turned off.
        Assert.NotEqual("not checked", ConvKernels.Status);
        Assert.Equal(ConvKernels.OneDnnFaults.Count == 0 || ConvKernels.Policy == ConvKernelPolicy.OneDnn, ConvKernels.UsesOneDnn);
        Assert.Empty(ConvKernels.SelfTest());
    }

    [Theory]
    [InlineData(24, 40, 3, 1, 4, false)]   // a pruned width (multiple of 8, not of 16) at a training batch
    [InlineData(33, 40, 3, 1, 4, false)]
    [InlineData(33, 40, 3, 1, 4, true)]
    [InlineData(256, 512, 1, 2, 1, true)]  // ResNet's downsample in channels-last
    public void A_conv_of_a_shape_oneDNN_gets_wrong_on_some_CPUs_matches_float64(int cin, int cout, int kernel, int stride, int batch, bool channelsLast)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        var x = randn([batch, cin, 14, 14], generator: generator);
        var w = randn([cout, cin, kernel, kernel], generator: generator).mul_(0.2);
        var b = randn([cout], generator: generator);
        long[] strides = [stride, stride], padding = [kernel / 2, kernel / 2];
        Tensor Conv(Tensor input, Tensor weight, Tensor? bias) => nn.functional.conv2d(input, weight, bias, strides, padding);
        var y = channelsLast ? Conv(ChannelsLast.Convert(x), ChannelsLast.Convert(w), b) : Conv(x, w, b);

        var (diff, excess) = ConvReference.Check(Conv, x, w, b, y);
        Assert.True(excess <= 1, $"max |diff| {diff} is {excess}x the float32 rounding bound ({ConvKernels.Status})");
    }

    [Fact]
    public void The_reference_check_accepts_another_summation_order_and_rejects_a_perturbed_or_NaN_result()
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(5);
        var x = randn([2, 16, 10, 10], generator: generator);
        var w = randn([8, 16, 3, 3], generator: generator);
        Tensor Conv(Tensor input, Tensor weight, Tensor? bias) => nn.functional.conv2d(input, weight, bias, padding: [1, 1]);
        // im2col + matmul sums in another order than the conv kernel.
        var columns = nn.functional.unfold(x, 3, padding: 1);                        // [2, 144, 100]
        var byMatmul = w.reshape(8, 144).matmul(columns).reshape(2, 8, 10, 10);
        Assert.True(ConvReference.Check(Conv, x, w, null, byMatmul).Excess <= 1);

        var y = Conv(x, w, null);
        var perturbed = y.clone();
        perturbed[0, 3, 4, 4] += 0.05f;   // about 30x the worst-case bound here (144 products of |w||x| ~ 1)
        Assert.True(ConvReference.Check(Conv, x, w, null, perturbed).Excess > 1);
        perturbed[0, 3, 4, 4] = float.NaN;
        Assert.Equal(double.PositiveInfinity, ConvReference.Check(Conv, x, w, null, perturbed).Excess);
    }

    [Fact]
    public void An_exact_result_over_an_all_zero_float32_magnitude_is_within_the_bound_not_NaN()
    {
        // A dead input gradient (a strided 1x1 conv's skipped pixels): result, exact value and magnitude all zero, the
        // magnitude in float32 as the gradient checks pass it.
        using var scope = NewDisposeScope();
        var zero = zeros([2, 4, 3, 3]);
        var (diff, excess) = ConvReference.Excess(zero, zeros([2, 4, 3, 3], float64), zero, k: 9);
        Assert.Equal(0.0, diff);
        Assert.Equal(0.0, excess);
        // A non-zero difference over that zero bound is still wrong.
        Assert.True(ConvReference.Excess(ones([2, 4, 3, 3]), zeros([2, 4, 3, 3], float64), zero, k: 9).Excess > 1);
    }

    [Fact]
    public void The_policy_comes_from_the_environment_variable_and_a_bad_value_names_it()
    {
        var saved = Environment.GetEnvironmentVariable(ConvKernels.PolicyVariable);
        try
        {
            Environment.SetEnvironmentVariable(ConvKernels.PolicyVariable, "Native");
            Assert.Equal(ConvKernelPolicy.Native, ConvKernels.PolicyFromEnvironment());
            Environment.SetEnvironmentVariable(ConvKernels.PolicyVariable, null);
            Assert.Equal(ConvKernelPolicy.Auto, ConvKernels.PolicyFromEnvironment());
            Environment.SetEnvironmentVariable(ConvKernels.PolicyVariable, "fast");
            var e = Assert.Throws<ArgumentException>(() => ConvKernels.PolicyFromEnvironment());
            Assert.Contains(ConvKernels.PolicyVariable, e.Message);
            Assert.Contains("auto, onednn or native", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(ConvKernels.PolicyVariable, saved);
        }
    }

    [Fact]
    public void NNPACK_was_asked_and_left_on_only_where_supported()
    {
        Assert.Matches("^(NNPACK supported on this CPU: left enabled|NNPACK unsupported on this CPU \\(status \\d+\\): disabled in libtorch|libtorch has no NNPACK: nothing to do)$",
            Nnpack.Status);
        Assert.Equal("", LibTorchSetup.Problem);
    }
}
