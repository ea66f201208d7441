using Plugins.ChannelPruning;
using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

public sealed class LassoSelectionTests
{
    [Fact]
    public void Lasso_finds_the_channels_a_planted_response_was_built_from()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var model = SingleConv(inChannels: 8, outChannels: 6);
        var layer = WeightLayer.Find(model, "conv")!;
        var planted = new[] { 1, 2, 5, 7 };
        using var samples = PlantedSamples(layer, rows: 400, planted);

        using var problem = new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 8, samples);
        var gram = new double[8, 8];
        var b = new double[8];
        problem.AccumulateGram(gram, b);
        var selection = LassoChannelSelector.Select(gram, b, keep: 4, alphaInit: 1e-4);

        Assert.Equal(planted, Enumerable.Range(0, 8).Where(c => selection.Keep[c]).ToArray());
        // The planted channels rebuild the response exactly with their own weights; the refit finds them again.
        Assert.True(problem.ErrorWithOriginalWeights(selection.Keep) < 1e-10);
        using var refit = problem.Refit(selection.Keep)!;
        Assert.True(problem.Error(selection.Keep, refit) < 1e-8);
    }

    [Fact]
    public void Solver_without_penalty_solves_the_normal_equations_and_a_large_penalty_zeroes_everything()
    {
        // G = [[2,1],[1,3]], b = [1,2]: β = G⁻¹b = [0.2, 0.6].
        var gram = new double[,] { { 2, 1 }, { 1, 3 } };
        var b = new double[] { 1, 2 };
        var beta = LassoSolver.Solve(gram, b, 0);
        Assert.Equal(0.2, beta[0], 6);
        Assert.Equal(0.6, beta[1], 6);
        Assert.All(LassoSolver.Solve(gram, b, 10), v => Assert.Equal(0, v));
        // At α = 0.8 only the second coordinate survives: β₂ = (2 − 0.8)/3 = 0.4, and |1 − 1·0.4| ≤ 0.8 keeps β₁ at 0.
        var sparse = LassoSolver.Solve(gram, b, 0.8);
        Assert.Equal(0, sparse[0]);
        Assert.Equal(0.4, sparse[1], 6);
    }

    [Fact]
    public void Least_squares_refit_lowers_the_response_error_of_the_kept_channels()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var model = SingleConv(inChannels: 6, outChannels: 5);
        var layer = WeightLayer.Find(model, "conv")!;
        // Correlated input channels: dropped channels can be partly made up by the kept ones.
        var latent = randn(600, 3, 9);
        var inputs = einsum("nkl,ck->ncl", latent, randn(6, 3)) + 0.1 * randn(600, 6, 9);
        var responses = inputs.reshape(600, -1).mm(layer.Matrix().detach().t()) + layer.Bias!.detach();
        using var samples = new LayerSamples(inputs, responses);

        using var problem = new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 6, samples);
        var keep = new[] { true, false, true, false, true, false };
        double before = problem.ErrorWithOriginalWeights(keep);
        using var refit = problem.Refit(keep)!;
        double after = problem.Error(keep, refit);

        Assert.Equal(new long[] { 5, 3, 9 }, refit.shape);
        Assert.True(before > 0.05, $"error without refit {before}");
        Assert.True(after < before / 5, $"refit {after} vs {before}");
    }

    [Fact]
    public void Refit_solves_a_rank_deficient_sample_and_leaves_dead_inputs_at_zero()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var model = nn.Sequential(("fc", nn.Linear(64, 10)));
        var layer = WeightLayer.Find(model, "fc")!;
        // ReLU outputs with 8 dead units: all-zero columns, as after a trained fc layer.
        var inputs = nn.functional.relu(randn(500, 64, 1));
        inputs.index_fill_(1, arange(0, 8), 0);
        var responses = inputs.reshape(500, -1).mm(layer.Matrix().detach().t()) + layer.Bias!.detach();
        using var samples = new LayerSamples(inputs.DetachFromDisposeScope(), responses.DetachFromDisposeScope());
        using var problem = new ConsumerProblem(layer, new ChannelConsumer("fc", 0, 1), 64, samples);
        var keep = Enumerable.Range(0, 64).Select(i => i % 4 != 3).ToArray();

        using var refit = problem.Refit(keep)!;
        double before = problem.ErrorWithOriginalWeights(keep), after = problem.Error(keep, refit);

        Assert.True(after < 0.9 * before, $"refit {after} vs {before}");
        // Kept channels 0..7 are dead: positions 0..5 of the kept list (0,1,2,4,5,6) get no weight.
        Assert.Equal(0, refit.narrow(1, 0, 6).abs().max().item<float>());
        // Least squares: the residual is orthogonal to every kept input column.
        var x = inputs.reshape(500, 64).index_select(1, tensor(Enumerable.Range(0, 64).Where(i => keep[i]).Select(i => (long)i).ToArray()));
        var residual = responses - layer.Bias!.detach() - x.mm(refit.reshape(10, -1).t());
        Assert.True(x.t().mm(residual).abs().max().item<float>() < 1e-3 * responses.abs().sum().item<float>() / 500);
    }

    [Fact]
    public void Refit_is_declined_when_the_sample_has_too_few_rows()
    {
        using var scope = NewDisposeScope();
        var model = SingleConv(inChannels: 4, outChannels: 3);
        var layer = WeightLayer.Find(model, "conv")!;
        using var samples = PlantedSamples(layer, rows: 20, [0, 1, 2, 3]);
        using var problem = new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 4, samples);
        // 2 channels × 9 taps = 18 unknowns need 36 rows.
        Assert.Null(problem.Refit([true, true, false, false]));
    }

    [Fact]
    public void A_consumer_whose_outputs_were_pruned_earlier_is_fit_to_the_reference_responses_of_the_outputs_it_kept()
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var model = SingleConv(inChannels: 4, outChannels: 2);   // the consumer now: outputs 1 and 3 of the reference's 4
        var layer = WeightLayer.Find(model, "conv")!;
        using var kept = PlantedSamples(layer, rows: 200, [0, 1, 2, 3]);
        // The reference's responses: its outputs 1 and 3 are the consumer's two; outputs 0 and 2 are something else.
        var other = randn(200, 1);
        var responses = cat([other, kept.Responses.narrow(1, 0, 1), other * 2, kept.Responses.narrow(1, 1, 1)], 1);
        using var samples = new LayerSamples(kept.Inputs.clone(), responses);
        var all = new[] { true, true, true, true };

        using var aligned = new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 4, samples, keptOutputs: [1, 3]);
        using var misaligned = new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 4, samples, keptOutputs: [0, 2]);

        Assert.True(aligned.ErrorWithOriginalWeights(all) < 1e-10, $"{aligned.ErrorWithOriginalWeights(all)}");
        Assert.True(misaligned.ErrorWithOriginalWeights(all) > 0.5, $"{misaligned.ErrorWithOriginalWeights(all)}");
        var error = Assert.Throws<InvalidOperationException>(() => new ConsumerProblem(layer, new ChannelConsumer("conv", 0, 1), 4, samples));
        Assert.Contains("do not match its weight [2,4,3,3]", error.Message);
    }

    private static nn.Module<Tensor, Tensor> SingleConv(int inChannels, int outChannels) =>
        nn.Sequential(("conv", nn.Conv2d(inChannels, outChannels, 3, padding: 1)));

    /// <summary>Random patches, and responses built from the <paramref name="planted"/> input channels only.</summary>
    private static LayerSamples PlantedSamples(WeightLayer layer, int rows, int[] planted)
    {
        long cin = layer.Weight.shape[1];
        var inputs = randn(rows, cin, 9);
        var mask = zeros(1, cin, 1);
        foreach (var c in planted) mask[0, c, 0] = 1;
        var responses = (inputs * mask).reshape(rows, -1).mm(layer.Matrix().detach().t()) + layer.Bias!.detach();
        return new LayerSamples(inputs.DetachFromDisposeScope(), responses.DetachFromDisposeScope());
    }
}
