using Trainer.Core.Graph;
using Trainer.Core.Pruning.Admm;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.Pruning;
using Trainer.Tests.Shared;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

public sealed class AutoCompressSearchTests(ITestOutputHelper output)
{
    [Fact]
    public void RoundsOfAnnealingThenAdmmComposeToTheTotalBudgetAndTheModelHasThePolicysWidths()
    {
        using var scope = NewDisposeScope();
        manual_seed(5);
        using var task = new TinyTask();
        task.Configure(TaskContext.Empty);
        var model = AdmmPruningTests.TinyConvNet();
        long[] shape = [1, 3, 8, 8];
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var options = new AutoCompressOptions
        {
            Rounds = 2,
            Annealing = new AnnealingOptions { MaxTrials = 4, Seed = 1 },
            Admm = new AdmmOptions { Iterations = 2, Rho = 1, Training = new ShortTrainingOptions { Steps = 4, LearningRate = 0.05 } },
        };
        var outcome = AutoCompressSearch.Run(task, AdmmPruningTests.TinyConvNet, model, shape, task.TrainLoader(32, 1, 1.0),
            task.CalibrationLoader(64, 32, 2), targetMacsRatio: 0.5, floor: 0.2, roundTo: 1, options);
        using var pruned = outcome.Model;
        var best = outcome.Result.Best;
        output.WriteLine($"{string.Join(", ", best.Groups.Select(g => $"{g.Id} {g.Kept}/{g.Channels}"))}: MACs {best.Macs} of {best.FullMacs}, budget {best.Budget}");

        Assert.Equal("autocompress", best.Method);
        Assert.True(best.Macs <= best.Budget, $"{best.Macs} > {best.Budget}");
        Assert.Equal((long)(0.5 * best.FullMacs), best.Budget);
        // Round 1 aims at 0.5^(1/2) of the MACs, round 2 at 0.5: every trial of round r is within its round's budget.
        Assert.Equal([1, 2], outcome.Result.History.Select(t => t.Round).Distinct());
        Assert.All(outcome.Result.History.Where(t => t.Round == 1), t => Assert.True(t.Macs <= Math.Sqrt(0.5) * best.FullMacs, $"{t.Macs}"));
        Assert.All(outcome.Result.History.Where(t => t.Round == 2), t => Assert.True(t.Macs <= best.Budget, $"{t.Macs}"));
        // The returned model is shrunk to the policy's widths, its edits replay them, and it still runs.
        var graph = ModelGraph.Build(pruned, shape);
        var widths = pruned.named_parameters().Where(p => p.name is "conv1.weight" or "conv2.weight").ToDictionary(p => p.name[..5], p => (int)p.parameter.shape[0]);
        Assert.Equal(best.KeptChannels["conv1"], widths["conv1"]);
        Assert.Equal(best.KeptChannels["conv2"], widths["conv2"]);
        Assert.NotEmpty(outcome.Edits);
        using var replayed = Trainer.Core.Compression.ModelCopy.Create(AdmmPruningTests.TinyConvNet, shape, outcome.Edits, pruned);
        Assert.Equal([2L, 5L], replayed.call(randn(2, 3, 8, 8)).shape);
        // The given model is not changed.
        foreach (var (name, value) in model.state_dict()) Assert.True(value.equal(before[name]).all().item<bool>(), $"{name} changed");
    }
}
