using Plugins.LowRank;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace LowRank.Tests;

/// <summary>Data-driven fits beat the truncated SVD on the sampled responses they are fitted to.</summary>
public sealed class ResponseFitterTests
{
    private const int Samples = 1500, In = 24, Out = 16, Rank = 4;

    [Fact]
    public void Nonlinear_fit_has_a_lower_post_relu_error_than_the_svd_at_the_same_rank()
    {
        using var scope = NewDisposeScope();
        var (weight, bias, samples) = Synthetic(seed: 5);
        using (samples)
        using (var svd = SvdFactorizer.Factorize(weight, bias, Rank))
        using (var fit = ResponseFitter.FitNonlinear(weight, bias, samples, Rank, iterations: 6))
        {
            Assert.Equal(Rank, fit.Rank);
            var target = samples.Responses.to_type(ScalarType.Float64).relu();
            var svdError = (Respond(svd, samples).relu() - target).norm().item<double>();
            var fitError = (Respond(fit, samples).relu() - target).norm().item<double>();
            Assert.True(fitError < 0.95 * svdError, $"nonlinear {fitError} vs SVD {svdError}");
            Assert.Contains("post-ReLU response error", fit.Error);
        }
    }

    [Fact]
    public void Linear_fit_has_a_lower_response_error_than_the_svd_when_inputs_are_anisotropic()
    {
        using var scope = NewDisposeScope();
        var (weight, bias, samples) = Synthetic(seed: 6);
        using (samples)
        using (var svd = SvdFactorizer.Factorize(weight, bias, Rank))
        using (var fit = ResponseFitter.FitLinear(weight, bias, samples, Rank))
        {
            var target = samples.Responses.to_type(ScalarType.Float64);
            var svdError = (Respond(svd, samples) - target).norm().item<double>();
            var fitError = (Respond(fit, samples) - target).norm().item<double>();
            Assert.True(fitError < 0.9 * svdError, $"regression {fitError} vs SVD {svdError}");
        }
    }

    [Fact]
    public void Full_rank_linear_fit_reproduces_the_responses()
    {
        using var scope = NewDisposeScope();
        var (weight, bias, samples) = Synthetic(seed: 7);
        using (samples)
        using (var fit = ResponseFitter.FitLinear(weight, bias, samples, Out))
        {
            var target = samples.Responses.to_type(ScalarType.Float64);
            var worst = (Respond(fit, samples) - target).abs().max().item<double>();
            Assert.True(worst < 1e-4, $"max deviation {worst}");
        }
    }

    [Fact]
    public void Fits_leave_only_the_returned_factors_alive()
    {
        var (weight, bias, samples) = Synthetic(seed: 8);
        using var w = weight;
        using var b = bias;
        using var s = samples;
        ResponseFitter.FitNonlinear(weight, bias, samples, Rank, iterations: 2).Dispose(); // warm-up
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var nonlinear = ResponseFitter.FitNonlinear(weight, bias, samples, Rank, iterations: 3);
        Assert.Equal(before + 3, DisposeScopeManager.Statistics.ThreadTotalLiveCount); // P, Q, bias
        nonlinear.Dispose();
        ResponseFitter.FitLinear(weight, bias, samples, Rank).Dispose();
        SvdFactorizer.Factorize(weight, bias, Rank).Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Z_step_picks_the_cheaper_side_of_zero()
    {
        using var scope = NewDisposeScope();
        // relu(y) = 0, a = -1: z = a costs 0. relu(y) = 2, a = 1, λ = 1: z = 1.5 costs 0.5.
        var z = ResponseFitter.ZStep(tensor(new[] { 0.0, 2.0 }), tensor(new[] { -1.0, 1.0 }), 1.0);
        Assert.Equal(-1.0, z[0].item<double>(), 12);
        Assert.Equal(1.5, z[1].item<double>(), 12);
    }

    /// <summary>A Linear-like layer with inputs whose variance differs a lot per feature, and its exact responses.</summary>
    private static (Tensor Weight, Tensor Bias, LayerSamples Samples) Synthetic(int seed)
    {
        manual_seed(seed);
        var weight = randn(Out, In);
        var bias = randn(Out);
        var scales = exp(linspace(-3, 1.5, In));
        var inputs = randn(Samples, In) * scales;
        var responses = inputs.mm(weight.t()) + bias;
        return (weight, bias, new LayerSamples(inputs.unsqueeze(2).DetachFromDisposeScope(), responses.DetachFromDisposeScope()));
    }

    /// <summary>What the factorized layer answers to the sampled inputs: P·(Q·x) + bias.</summary>
    private static Tensor Respond(LowRankFactors factors, LayerSamples samples)
    {
        var x = samples.Inputs.to_type(ScalarType.Float64).reshape(samples.Inputs.shape[0], -1);
        var y = x.mm(factors.Q.t()).mm(factors.P.t());
        return factors.Bias is null ? y : y + factors.Bias;
    }
}
