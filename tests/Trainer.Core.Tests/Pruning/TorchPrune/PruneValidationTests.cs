using TorchSharp;
using Trainer.Core.Pruning.TorchPrune;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.TorchPrune;

/// <summary>PyTorch's refusals, in this project's words, and that a refused call leaves the module as it was.</summary>
public class PruneValidationTests
{
    private static string[] ParamNames(nn.Module m) => m.named_parameters(recurse: false).Select(p => p.name).ToArray();

    private static string[] BufferNames(nn.Module m) => m.named_buffers(recurse: false).Select(b => b.name).ToArray();

    [Fact]
    public void Amounts_are_a_non_negative_count_or_a_fraction_in_zero_to_one()
    {
        Assert.Contains("fraction outside [0, 1]", Assert.Throws<ArgumentOutOfRangeException>(() => PruningAmount.Fraction(1.1)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => PruningAmount.Fraction(20.0));
        Assert.Throws<ArgumentOutOfRangeException>(() => PruningAmount.Fraction(double.NaN));
        Assert.Contains("negative count", Assert.Throws<ArgumentOutOfRangeException>(() => PruningAmount.Count(-10)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new L1Unstructured(-1));
        PruningAmount[] valid = [0.34, 1500, 0, 0.0, 1, 1.0];
        Assert.Equal([false, true, true, false, true, false], valid.Select(a => a.IsCount));
    }

    [Fact]
    public void A_count_larger_than_the_tensor_is_refused_and_a_fraction_never_is()
    {
        Assert.Contains("amount=20 is larger than the 19 entries", Assert.Throws<ArgumentOutOfRangeException>(() => PruningAmount.Count(20).ToPrune(19, "entries")).Message);
        Assert.Equal(0, PruningAmount.Fraction(0.3).ToPrune(0, "entries"));
        Assert.Equal(19, PruningAmount.Count(19).ToPrune(20, "entries"));
        Assert.Equal(0, PruningAmount.Count(0).ToPrune(0, "entries"));
        Assert.Equal(1, PruningAmount.Count(1).ToPrune(15, "entries"));
        Assert.Equal(15, PruningAmount.Fraction(1.0).ToPrune(15, "entries"));
        Assert.Equal(7, PruningAmount.Fraction(0.4).ToPrune(17, "entries"));
    }

    [Fact]
    public void A_failed_first_pruning_leaves_the_parameter_in_place()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(5, 2);
        var weight = lin.weight;
        Assert.Throws<ArgumentOutOfRangeException>(() => Prune.L1Unstructured(lin, "weight", 11));
        Assert.Equal(["weight", "bias"], ParamNames(lin));
        Assert.Empty(BufferNames(lin));
        Assert.Same(weight, lin.weight);
        Assert.False(Prune.IsPruned(lin));
    }

    [Fact]
    public void A_failed_later_pruning_leaves_the_mask_and_the_method_as_they_were()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(5, 2);
        Prune.L1Unstructured(lin, "weight", 3);
        var mask = lin.named_buffers(recurse: false).Single().buffer.clone();
        Assert.Throws<ArgumentOutOfRangeException>(() => Prune.LnStructured(lin, "weight", 3, 2, 0));
        Assert.IsType<L1Unstructured>(Prune.MethodOf(lin, "weight"));
        Assert.Equal(PruneFixtures.Values(mask), PruneFixtures.Values(lin.named_buffers(recurse: false).Single().buffer));
    }

    [Fact]
    public void Structured_pruning_refuses_a_one_dim_tensor()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(5, 2);
        var e = Assert.Throws<ArgumentException>(() => Prune.LnStructured(lin, "bias", 1, 2, 0));
        Assert.Contains("two or more dims", e.Message);
        Assert.Throws<ArgumentException>(() => Prune.RandomStructured(lin, "bias", 1, -1));
        Assert.Equal(["weight", "bias"], ParamNames(lin));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(-3)]
    public void A_dim_out_of_range_is_refused(long dim)
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(5, 2);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Prune.LnStructured(lin, "weight", 1, 2, dim));
        Assert.Contains($"dim={dim} is out of range", e.Message);
        Prune.L1Unstructured(lin, "weight", 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => Prune.RandomStructured(lin, "weight", 1, dim));
    }

    [Theory]
    [InlineData("weight")]
    [InlineData("bias")]
    public void Removing_an_unpruned_tensor_is_refused(string name)
    {
        using var scope = torch.NewDisposeScope();
        foreach (nn.Module m in new nn.Module[] { nn.Linear(5, 7), nn.Conv3d(2, 2, 2) })
        {
            Assert.False(Prune.IsPruned(m));
            var e = Assert.Throws<InvalidOperationException>(() => Prune.Remove(m, name));
            Assert.Contains($"Parameter '{name}'", e.Message);
            Assert.Contains("is not pruned", e.Message);
        }
    }

    [Fact]
    public void A_container_refuses_a_method_for_another_tensor()
    {
        var container = new PruningContainer("test");
        Assert.Empty(container);
        container.Add(new L1Unstructured(2) { TensorName = "test" });
        var e = Assert.Throws<ArgumentException>(() => container.Add(new L1Unstructured(2) { TensorName = "another_test" }));
        Assert.Contains("'another_test'", e.Message);
        Assert.Single(container);
    }

    [Fact]
    public void Bad_names_shapes_and_methods_are_refused_with_the_fix()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(4, 2);
        Assert.Contains("its parameters are 'weight', 'bias'", Assert.Throws<ArgumentException>(() => Prune.Identity(lin, "wieght")).Message);
        Assert.Contains("give one score per entry",
            Assert.Throws<ArgumentException>(() => Prune.L1Unstructured(lin, "weight", 1, torch.ones(4, 2))).Message);
        Assert.Contains("takes an unstructured method",
            Assert.Throws<ArgumentException>(() => Prune.GlobalUnstructured([(lin, "weight")], new LnStructured(1, 2, 0))).Message);
        var used = new L1Unstructured(1);
        Prune.Apply(lin, "weight", used);
        Assert.Contains("create a new method", Assert.Throws<ArgumentException>(() => Prune.Apply(lin, "bias", used)).Message);
        Assert.Contains("custom mask", Assert.Throws<ArgumentException>(() => Prune.CustomFromMask(lin, "bias", torch.ones(3))).Message);
    }

    [Fact]
    public void A_layer_pruned_before_it_joins_a_parent_keeps_its_reparametrisation()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(4, 2);
        Prune.L1Unstructured(lin, "weight", 3);
        var model = nn.Sequential(("fc", lin), ("relu", nn.ReLU()));
        Assert.Equal(["fc.bias", "fc.weight_mask", "fc.weight_orig"], model.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.Equal(2, model.call(torch.ones(1, 4)).shape[1]);
    }

    [Fact]
    public void Casting_a_pruned_layer_is_named_as_the_problem_at_its_next_forward()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(4, 2);
        Prune.L1Unstructured(lin, "weight", 3);
        lin.to(ScalarType.Float64);
        var e = Assert.Throws<InvalidOperationException>(() => lin.call(torch.ones(1, 4, dtype: ScalarType.Float64)));
        Assert.Contains("cast or move a model before pruning it", e.Message);
    }
}
