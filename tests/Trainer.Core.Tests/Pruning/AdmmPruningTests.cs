using Trainer.Core.Pruning.Admm;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Tests.Shared;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning;

public sealed class AdmmPruningTests(ITestOutputHelper output)
{
    /// <summary>Two convolution groups (conv1, conv2) and a head that sees where things are, as TinyTask's labels need.</summary>
    internal static nn.Module<Tensor, Tensor> TinyConvNet() => nn.Sequential(
        ("conv1", nn.Conv2d(3, 8, 3, padding: 1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(8, 8, 3, padding: 1)), ("relu2", nn.ReLU()),
        ("flat", nn.Flatten()), ("fc", nn.Linear(8 * 8 * 8, 5)));

    /// <summary>TinyConvNet at 16 channels: oneDNN (libtorch 2.10's 3.7.1) trains the 8-channel net to a NaN loss on AVX-512
    /// CPUs (Zen 5: every run with TRAINER_CONV_KERNELS=onednn); at 16 channels, whole SIMD blocks, it computes right, so
    /// this test holds under every kernel policy.</summary>
    private static nn.Module<Tensor, Tensor> SixteenChannelNet() => nn.Sequential(
        ("conv1", nn.Conv2d(3, 16, 3, padding: 1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 16, 3, padding: 1)), ("relu2", nn.ReLU()),
        ("flat", nn.Flatten()), ("fc", nn.Linear(16 * 8 * 8, 5)));

    [Fact]
    public void ZMeetsEachGroupsTargetWConvergesTowardZAndTheMasksAreTheProjectionOfTheFinalWeights()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        var model = SixteenChannelNet();
        var train = task.TrainLoader(32, 1, 1.0);
        ChannelGroupTarget conv1 = new("conv1", ["conv1"], 8), conv2 = new("conv2", ["conv2"], 4, ChannelNorm.L2);
        using var state = new AdmmState(model, [conv1, conv2], rho: 5.0);
        var outcome = AdmmPruning.Run(task, model, train, state,
            new AdmmOptions { Iterations = 6, Rho = 5.0, Training = new ShortTrainingOptions { Steps = 8, LearningRate = 0.05 } });
        output.WriteLine("residuals " + string.Join(", ", outcome.Residuals.Select(r => r.ToString("g4"))));

        // Z holds exactly the target's channels: 8 of conv1's 16 rows and 4 of conv2's are non-zero, the rest exactly zero.
        static int NonZeroRows(Tensor t) => (int)t.reshape(t.shape[0], -1).abs().sum(1).gt(0).sum().item<long>();
        Assert.Equal(8, NonZeroRows(state.Z["conv1"]));
        Assert.Equal(4, NonZeroRows(state.Z["conv2"]));
        // W is pulled toward Z: the primal residual falls.
        Assert.Equal(6, outcome.Residuals.Count);
        Assert.True(outcome.Residuals[^1] < 0.5 * outcome.Residuals[0], string.Join(", ", outcome.Residuals));

        // The masks are the projection of the final W, computed here by hand: the channels of largest L1 (conv1) and L2 (conv2) norm.
        var weights = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach());
        bool[] Top(Tensor w, int k, bool l1)
        {
            var rows = w.reshape(w.shape[0], -1).to_type(ScalarType.Float64);
            var norm = (l1 ? rows.abs().sum(1) : rows.pow(2).sum(1).sqrt()).data<double>().ToArray();
            var top = Enumerable.Range(0, norm.Length).OrderByDescending(c => norm[c]).Take(k).ToHashSet();
            return Enumerable.Range(0, norm.Length).Select(top.Contains).ToArray();
        }
        Assert.Equal(Top(weights["conv1.weight"], 8, true), outcome.KeptByGroup["conv1"]);
        Assert.Equal(Top(weights["conv2.weight"], 4, false), outcome.KeptByGroup["conv2"]);
        // The last Z- and U-steps, exactly as ADMM defines them: with S = W + U (the final W, the previous U), Z = Π(S) keeps the
        // rows of S of largest norm and U = S − Z holds the rest, so Z and U never share a row and every row Z kept is at least
        // as large, by the group's criterion, as every row it left in U. (That the final W's own top rows are Z's support is
        // not implied after a finite number of steps; it is what the falling residual approaches.)
        AssertZIsTheProjectionAndUTheRest(state, "conv1", l1: true);
        AssertZIsTheProjectionAndUTheRest(state, "conv2", l1: false);
        output.WriteLine("final residual " + outcome.Residuals[^1].ToString("R"));
    }

    private static void AssertZIsTheProjectionAndUTheRest(AdmmState state, string layer, bool l1)
    {
        double[] Norms(Tensor t)
        {
            var rows = t.reshape(t.shape[0], -1).to_type(ScalarType.Float64);
            return (l1 ? rows.abs().sum(1) : rows.pow(2).sum(1).sqrt()).data<double>().ToArray();
        }
        var z = Norms(state.Z[layer]);
        var u = Norms(state.U[layer]);
        var kept = Enumerable.Range(0, z.Length).Where(c => z[c] > 0).ToList();
        var left = Enumerable.Range(0, z.Length).Where(c => z[c] == 0).ToList();
        Assert.All(kept, c => Assert.True(u[c] == 0, $"{layer}: U's row {c} is {u[c]:g6}, but Z kept that row"));
        Assert.True(kept.Min(c => z[c]) >= left.Max(c => u[c]),
            $"{layer}: Z kept rows of norm {string.Join(", ", kept.Select(c => z[c].ToString("g6")))} over rows of norm " +
            $"{string.Join(", ", left.Select(c => u[c].ToString("g6")))}");
        // U's pruned rows are not all zero: W + U there is what the penalty still pulls to zero.
        Assert.Contains(left, c => u[c] > 0);
    }

    [Fact]
    public void AGroupProjectionSumsItsProducersNormsAndALevelProjectionKeepsTheLargestMagnitudes()
    {
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 1, 5, 0, 0, 2 }).reshape(3, 2);   // row L1: 2, 5, 2
        var b = tensor(new float[] { 0, 0, -1, 0, 3, 0 }).reshape(3, 2);  // row L1: 0, 1, 3
        var group = new ChannelGroupTarget("g", ["a", "b"], 2);
        var weights = new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b };
        Assert.Equal([false, true, true], group.KeptChannels(weights));    // sums 2, 6, 5
        Assert.Equal(new float[] { 0, 0, 5, 0, 0, 2 }, (a * group.Masks(weights)["a"]).data<float>().ToArray());

        var level = new LevelTarget("a", 0.5);
        Assert.Equal(new float[] { 1, 0, 1, 0, 0, 1 }, level.Masks(weights)["a"].data<float>().ToArray());   // 5, 2, then the first 1
        Assert.Contains("keeps 4 of 3", Assert.Throws<ArgumentException>(() => new ChannelGroupTarget("g", ["a"], 4).KeptChannels(weights)).Message);
    }
}
