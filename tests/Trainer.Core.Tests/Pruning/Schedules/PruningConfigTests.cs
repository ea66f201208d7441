using Trainer.Core.Models;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>PruningConfig: which layers it selects, which callback it builds, and how it finishes.</summary>
public sealed class PruningConfigTests
{
    private static string[] Names(torch.nn.Module net, IReadOnlyList<(torch.nn.Module Module, string Name)> targets)
    {
        var paths = net.named_modules().ToList();
        return targets.Select(t => paths.First(m => ReferenceEquals(m.module, t.Module)).name + "." + t.Name).ToArray();
    }

    [Fact]
    public void Targets_follow_op_types_op_names_and_exclusions_in_module_order()
    {
        using var net = new FashionCnn();
        Assert.Equal(["conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"], Names(net, new PruningConfig { Kind = "agp" }.Targets(net)));
        Assert.Equal(["conv1.weight", "conv2.weight", "conv3.weight"], Names(net, new PruningConfig { OpTypes = ["Conv2d"] }.Targets(net)));
        Assert.Equal(["conv2.weight", "fc1.weight"], Names(net, new PruningConfig { OpNames = ["fc1", "conv2"] }.Targets(net)));
        Assert.Equal(["conv2.weight", "conv3.weight", "fc1.weight"], Names(net, new PruningConfig { ExcludeOpNames = ["conv1", "fc2"] }.Targets(net)));
    }

    [Fact]
    public void An_unknown_or_mistyped_layer_name_is_refused_naming_it_and_the_prunable_layers()
    {
        using var net = new FashionCnn();
        var unknown = Assert.Throws<ArgumentException>(() => new PruningConfig { OpNames = ["conv9"] }.Targets(net));
        Assert.Contains("'conv9' is no module of the network", unknown.Message);
        Assert.Contains("conv1, conv2, conv3, fc1, fc2", unknown.Message);
        var typed = Assert.Throws<ArgumentException>(() => new PruningConfig { OpNames = ["bn1"] }.Targets(net));
        Assert.Contains("'bn1' is a BatchNorm2d", typed.Message);
    }

    [Theory]
    [InlineData("agp", "level", typeof(ScheduledPruning))]
    [InlineData("linear", "l2-norm", typeof(ScheduledPruning))]
    [InlineData("lottery-ticket", "level", typeof(LotteryTicket))]
    public void Each_kind_builds_its_callback_and_reparametrises_the_targets(string kind, string pruner, Type expected)
    {
        using var net = new FashionCnn();
        var config = new PruningConfig { Kind = kind, Pruner = pruner, FinalSparsity = 0.5, End = 2, Rounds = 1 };
        var targets = config.Targets(net);
        var callback = config.CreateCallback(targets);
        Assert.IsType(expected, callback);
        Assert.All(targets, t => Assert.NotNull(Prune.MethodOf(t.Module, t.Name)));
        Assert.Null(new PruningConfig().CreateCallback(targets));
    }

    [Fact]
    public void Making_the_targets_permanent_leaves_plain_weights_with_the_masked_zeros_all_positive()
    {
        using var scope = torch.NewDisposeScope();
        using var net = new FashionCnn();
        var targets = new PruningConfig { OpNames = ["conv2"] }.Targets(net);
        Prune.L1Unstructured(targets[0].Module, "weight", 0.5);
        Assert.Equal(0.5, PruningConfig.Sparsity(targets));
        PruningConfig.MakeTargetsPermanent(targets);
        Assert.Null(Prune.MethodOf(targets[0].Module, "weight"));
        var weight = targets[0].Module.get_parameter("weight")!;
        Assert.Equal(9216, weight.eq(0).sum().item<long>());
        Assert.Equal(0, weight.eq(0).logical_and(weight.signbit()).sum().item<long>());
        Assert.Equal(0.5, PruningConfig.Sparsity(targets));
    }
}
