using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

public class ImportanceConfigTests
{
    [Fact]
    public void Every_NNI_pruner_name_is_accepted_and_an_unknown_one_is_refused_naming_the_accepted_ones()
    {
        Assert.Equal(["level", "l1-norm", "l2-norm", "fpgm", "slim", "apoz", "mean-activation", "taylor-fo"], PruningConfig.Pruners);
        var net = new TinyBnNet();
        var config = new PruningConfig { Kind = "agp", FinalSparsity = 0.5, End = 2, Pruner = "magic" };
        var error = Assert.Throws<ArgumentException>(() => config.CreateCallback(config.Targets(net)));
        Assert.Equal("Unknown pruner 'magic'; accepted: level, l1-norm, l2-norm, fpgm, slim, apoz, mean-activation, taylor-fo.", error.Message);
    }

    [Theory]
    [InlineData("TrainingSteps", "TrainingSteps = 0")]
    [InlineData("Activation", "Activation = 'tanh' is unknown; accepted: relu, gelu, relu6.")]
    [InlineData("SlimLambda", "SlimLambda = -1")]
    public void A_bad_collector_setting_is_refused_naming_it_before_any_layer_is_reparametrised(string key, string expected)
    {
        var net = new TinyBnNet();
        var options = new ImportanceOptions { Criterion = ImportanceCriterion.Apoz, BatchesPerEpoch = 4 };
        options = key switch
        {
            "TrainingSteps" => options with { TrainingSteps = 0 },
            "Activation" => options with { Activation = "tanh" },
            _ => options with { SlimLambda = -1 },
        };
        var error = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "conv"), "weight")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 1, 3), Importance: options)));
        Assert.StartsWith(expected, error.Message);
        Assert.Equal(key, error.ParamName);
        Assert.False(Prune.IsPruned(net));
    }

    [Fact]
    public void Slim_on_a_layer_no_BatchNorm_reads_and_epoch_windows_without_the_epoch_length_are_refused()
    {
        var net = new TinyBnNet();
        var slim = new ImportanceOptions { Criterion = ImportanceCriterion.Slim, Network = net, InputShape = [1, 4] };
        var error = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "fc"), "weight")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 1, 3), Importance: slim)));
        Assert.Contains("slim ranks 'fc' by |γ| of the BatchNorm2d that reads its output, and none does", error.Message);
        Assert.False(Prune.IsPruned(net)); // refused before any layer was reparametrised

        var taylor = new ImportanceOptions { Criterion = ImportanceCriterion.TaylorFo };
        error = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "conv"), "weight")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 1, 3), ScheduleUnit.Epoch, Importance: taylor)));
        Assert.Contains("give ImportanceOptions.BatchesPerEpoch", error.Message);
        error = Assert.Throws<ArgumentException>(() => new ScheduledPruning([(Child(net, "conv"), "weight")],
            new ScheduledPruningOptions(SparsitySchedule.Agp(0.5, 0, 3, initialSparsity: 0.2), ScheduleUnit.Step, Importance: taylor)));
        Assert.Contains("none runs before counter 0", error.Message);
    }

    [Fact]
    public void The_next_pruning_point_follows_start_frequency_and_end()
    {
        var schedule = SparsitySchedule.Linear(0.5, start: 1, end: 10, frequency: 3);
        long?[] expected = [1, 1, 4, 4, 4, 7, 7, 7, 10, 10, 10, null];
        Assert.Equal(expected, Enumerable.Range(0, 12).Select(t => schedule.NextPruningPoint(t)).ToArray());
    }

    [Fact]
    public void Channel_selection_takes_the_lowest_scores_among_alive_channels_and_keeps_the_lower_index_of_a_tie()
    {
        double[] scores = [0.5, 0.1, 0.3, 0.3, 0.0, 0.9];
        bool[] alive = [true, true, true, true, false, true];
        Assert.Equal([1, 3], ChannelSelection.Smallest(scores, alive, 2));
        Assert.Throws<ArgumentException>(() => ChannelSelection.Smallest(scores, alive, 6));
    }
}
