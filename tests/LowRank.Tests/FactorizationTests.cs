using Plugins.LowRank;
using Trainer.Abstractions.Compression;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LowRank.Tests;

/// <summary>Truncated SVD factors: exact at full rank, Frobenius-optimal below it, written into the two layers.</summary>
public sealed class FactorizationTests
{
    [Fact]
    public void Full_rank_factors_written_into_two_convs_reproduce_the_conv()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var conv = nn.Conv2d(3, 5, 3, stride: 2, padding: 1);
        var input = randn(2, 3, 9, 9);
        const int fullRank = 5; // min(Cout 5, Cin·k·k 27)
        var first = nn.Conv2d(3, fullRank, 3, stride: 2, padding: 1, bias: false);
        var second = nn.Conv2d(fullRank, 5, 1);
        using (var factors = SvdFactorizer.Factorize(conv.weight!, conv.bias, fullRank))
            FactorWriter.Write(new FactorizedLayer(first, second), factors);

        using var noGrad = no_grad();
        var expected = conv.call(input);
        var actual = second.call(first.call(input));
        Assert.Equal(expected.shape, actual.shape);
        Assert.True((expected - actual).abs().max().item<float>() < 1e-4f);
    }

    [Fact]
    public void Full_rank_factors_written_into_two_linears_reproduce_the_linear()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var linear = nn.Linear(12, 7);
        var first = nn.Linear(12, 7, hasBias: false);
        var second = nn.Linear(7, 7);
        using (var factors = SvdFactorizer.Factorize(linear.weight!, linear.bias, 7))
            FactorWriter.Write(new FactorizedLayer(first, second), factors);

        using var noGrad = no_grad();
        var input = randn(4, 12);
        Assert.True((linear.call(input) - second.call(first.call(input))).abs().max().item<float>() < 1e-4f);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void Truncated_error_is_the_norm_of_the_discarded_singular_values(int rank)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var weight = randn(8, 2, 3, 3, dtype: ScalarType.Float64);
        using var factors = SvdFactorizer.Factorize(weight, null, rank);
        Assert.Equal([8L, rank], factors.P.shape);
        Assert.Equal([(long)rank, 18L], factors.Q.shape);

        var error = (weight.reshape(8, 18) - factors.P.mm(factors.Q)).norm().item<double>();
        var singular = linalg.svdvals(weight.reshape(8, 18));
        var discarded = singular.narrow(0, rank, 8 - rank).square().sum().sqrt().item<double>();
        Assert.Equal(discarded, error, 1e-9);
        // Eckart–Young: no other rank-r matrix does better, e.g. a random one near the truncation.
        var other = factors.P.mm(factors.Q) + 0.01 * randn(8, 1, dtype: ScalarType.Float64).mm(randn(1, 18, dtype: ScalarType.Float64));
        Assert.True((weight.reshape(8, 18) - other).norm().item<double>() > error);
    }

    [Fact]
    public void Writer_refuses_layers_that_cannot_hold_the_factors()
    {
        using var scope = NewDisposeScope();
        var conv = nn.Conv2d(3, 5, 3);
        using var factors = SvdFactorizer.Factorize(conv.weight!, conv.bias, 2);
        var wrong = new FactorizedLayer(nn.Conv2d(3, 3, 3, bias: false), nn.Conv2d(3, 5, 1));
        var error = Assert.Throws<InvalidOperationException>(() => FactorWriter.Write(wrong, factors));
        Assert.Contains("does not hold a factor of shape [2, 27]", error.Message);
    }
}
