using TorchSharp;
using Trainer.Core.Pruning.TorchPrune;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.TorchPrune;

/// <summary>PyTorch's reparametrisation: weight_orig and weight_mask, gradients, optimizer steps, remove and containers.</summary>
public class ReparametrizationTests
{
    private static Dictionary<string, Tensor> Params(nn.Module m) => m.named_parameters(recurse: false).ToDictionary(p => p.name, p => (Tensor)p.parameter);

    private static Dictionary<string, Tensor> Buffers(nn.Module m) => m.named_buffers(recurse: false).ToDictionary(b => b.name, b => b.buffer);

    private static void AssertClose(float[] expected, float[] actual, double tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"entry {i}: expected {expected[i]}, got {actual[i]}");
    }

    [Fact]
    public void Gradients_reach_weight_orig_and_masked_entries_stay_zero_after_an_optimizer_step()
    {
        using var scope = torch.NewDisposeScope();
        var g = PruneFixtures.Root.GetProperty("gradient");
        var lin = nn.Linear(5, 2);
        using (torch.no_grad())
        {
            lin.weight.copy_(torch.tensor(PruneFixtures.Floats(g.GetProperty("weight"))).reshape(2, 5));
            lin.bias!.copy_(torch.tensor(PruneFixtures.Floats(g.GetProperty("bias"))));
        }
        var weightObject = lin.weight;
        // Created before pruning: it holds the parameter object that becomes weight_orig, as in PyTorch.
        var sgd = optim.SGD(lin.parameters(), 1.0);
        var mask = torch.tensor(PruneFixtures.Floats(g.GetProperty("mask"))).reshape(2, 5);
        Prune.CustomFromMask(lin, "weight", mask);
        Assert.Same(weightObject, Params(lin)["weight_orig"]);
        Assert.Equal(g.GetProperty("parameter_names").EnumerateArray().Select(e => e.GetString()), Params(lin).Keys);
        Assert.Equal(g.GetProperty("buffer_names").EnumerateArray().Select(e => e.GetString()), Buffers(lin).Keys);

        var x = torch.tensor(PruneFixtures.Floats(g.GetProperty("input"))).reshape(1, 5);
        var y = lin.call(x);
        AssertClose(PruneFixtures.Floats(g.GetProperty("output")), PruneFixtures.Values(y), 1e-5);
        (y * torch.tensor(PruneFixtures.Floats(g.GetProperty("loss_weights"))).reshape(1, 2)).sum().backward();
        // The gradient of weight_orig is mask * dL/dweight: exact products, zero where masked.
        Assert.Equal(PruneFixtures.Floats(g.GetProperty("orig_grad")), PruneFixtures.Values(weightObject.grad!));
        sgd.step();
        Assert.Equal(PruneFixtures.Floats(g.GetProperty("orig_after_step")), PruneFixtures.Values(weightObject));
        var y2 = lin.call(x);
        Assert.Equal(PruneFixtures.Floats(g.GetProperty("weight_after_step")), PruneFixtures.Values(lin.weight));
        Assert.Equal(0f, lin.weight[1, 0].item<float>());
        Assert.Equal(0f, lin.weight[0, 3].item<float>());
        AssertClose(PruneFixtures.Floats(g.GetProperty("output_after_step")), PruneFixtures.Values(y2), 1e-5);
    }

    [Fact]
    public void State_dict_names_follow_PyTorch_before_pruning_after_pruning_and_after_remove()
    {
        using var scope = torch.NewDisposeScope();
        var sd = PruneFixtures.Root.GetProperty("state_dict");
        static string[] Names(System.Text.Json.JsonElement e) => e.EnumerateArray().Select(v => v.GetString()!).ToArray();
        var lin = nn.Linear(4, 3);
        var conv = nn.Conv2d(1, 2, 1);
        var model = nn.Sequential(("0", lin), ("1", nn.ReLU()), ("2", conv));
        Assert.Equal(Names(sd.GetProperty("before")), model.state_dict().Keys);
        Assert.False(Prune.IsPruned(model));
        Prune.L1Unstructured(lin, "weight", 0.5);
        Prune.LnStructured(conv, "weight", 1, 2, 0);
        // TorchSharp lists all parameters before all buffers in a state_dict, PyTorch goes module by module: the same
        // names (loading is by name), and within one module the same order.
        Assert.Equal(Names(sd.GetProperty("pruned")).Order(), model.state_dict().Keys.Order());
        Assert.Equal(["bias", "weight_orig", "weight_mask"], lin.state_dict().Keys);
        Assert.True(Prune.IsPruned(model));
        Prune.Remove(lin, "weight");
        Assert.Equal(Names(sd.GetProperty("after_remove_0")).Order(), model.state_dict().Keys.Order());
        Assert.Equal(["bias", "weight"], lin.state_dict().Keys);
        Prune.Remove(conv, "weight");
        Assert.False(Prune.IsPruned(model));
    }

    [Fact]
    public void Remove_keeps_the_parameter_object_with_the_pruned_values_and_the_same_forward()
    {
        using var scope = torch.NewDisposeScope();
        var lin = nn.Linear(5, 2, hasBias: false);
        var parameter = lin.parameters().Single();
        var mask = torch.ones(2, 5);
        mask[1, 0] = torch.tensor(0f);
        mask[0, 3] = torch.tensor(0f);
        Prune.CustomFromMask(lin, "weight", mask);
        Assert.Same(parameter, lin.parameters().Single());
        var x = torch.ones(1, 5);
        var pruned = PruneFixtures.Values(lin.call(x));
        var prunedWeight = PruneFixtures.Values(lin.weight);
        Prune.Remove(lin, "weight");
        Assert.Same(parameter, lin.parameters().Single());
        Assert.Same(parameter, lin.weight);
        Assert.Equal(["weight"], Params(lin).Keys);
        Assert.Empty(Buffers(lin));
        Assert.Equal(prunedWeight, PruneFixtures.Values(parameter));
        Assert.Equal(pruned, PruneFixtures.Values(lin.call(x)));
        Assert.Null(Prune.MethodOf(lin, "weight"));
    }

    [Fact]
    public void The_forward_uses_orig_times_mask_and_identity_pruning_changes_neither_output_nor_gradients()
    {
        using var scope = torch.NewDisposeScope();
        var x = torch.ones(1, 5);
        var lin = nn.Linear(5, 2);
        var before = lin.call(x);
        before.sum().backward();
        var gradBefore = PruneFixtures.Values(lin.weight.grad!);
        lin.zero_grad();
        Prune.Identity(lin, "weight");
        var after = lin.call(x);
        Assert.Equal(PruneFixtures.Values(before), PruneFixtures.Values(after));
        after.sum().backward();
        Assert.Equal(gradBefore, PruneFixtures.Values(Params(lin)["weight_orig"].grad!));
        Assert.Equal(PruneFixtures.Values(lin.call(x)), PruneFixtures.Values(lin.call(x)));

        var only = nn.Linear(5, 2);
        var keep = torch.zeros(2, 5);
        keep[1, 0] = torch.tensor(1f);
        keep[0, 3] = torch.tensor(1f);
        Prune.CustomFromMask(only, "weight", keep);
        var y = only.call(x);
        var orig = Params(only)["weight_orig"];
        Assert.Equal(orig[0, 3].item<float>() + only.bias![0].item<float>(), y[0, 0].item<float>());
        Assert.Equal(orig[1, 0].item<float>() + only.bias![1].item<float>(), y[0, 1].item<float>());
    }

    [Fact]
    public void Pruning_again_builds_a_container_that_keeps_every_earlier_zero()
    {
        using var scope = torch.NewDisposeScope();
        var conv = nn.Conv3d(2, 2, 2);
        Prune.L1Unstructured(conv, "weight", 0.1);
        var first = Buffers(conv)["weight_mask"].clone();
        Assert.IsType<L1Unstructured>(Prune.MethodOf(conv, "weight"));
        Prune.LnStructured(conv, "weight", 0.3, 2, 0);
        var container = Assert.IsType<PruningContainer>(Prune.MethodOf(conv, "weight"));
        Assert.Equal("weight", container.TensorName);
        Assert.Equal(2, container.Count);
        Assert.IsType<L1Unstructured>(container[0]);
        Assert.IsType<LnStructured>(container[1]);
        var second = Buffers(conv)["weight_mask"];
        Assert.Equal(0, second.masked_select(first.eq(0)).count_nonzero().item<long>());
        Assert.True(first.eq(0).sum().item<long>() < second.eq(0).sum().item<long>());
        Prune.LnStructured(conv, "weight", 0.1, double.PositiveInfinity, 1);
        Assert.Equal(3, Assert.IsType<PruningContainer>(Prune.MethodOf(conv, "weight")).Count);
    }

    [Theory]
    [InlineData("weight")]
    [InlineData("bias")]
    public void Pruned_tensors_keep_their_shape_in_orig_mask_and_value_on_linear_and_conv3d(string name)
    {
        using var scope = torch.NewDisposeScope();
        foreach (nn.Module<Tensor, Tensor> m in new nn.Module<Tensor, Tensor>[] { nn.Linear(5, 7), nn.Conv3d(2, 2, 2) })
        {
            var original = Params(m)[name].clone();
            Prune.RandomUnstructured(m, name, 0.1);
            long expectedZeros = (long)Math.Round(0.1 * original.numel(), MidpointRounding.ToEven);
            Assert.Equal(original.shape, Buffers(m)[name + "_mask"].shape);
            Assert.Equal(original.shape, Params(m)[name + "_orig"].shape);
            Assert.Equal(original.shape, Prune.TensorOf(m, name).shape);
            Assert.Equal(PruneFixtures.Values(original), PruneFixtures.Values(Params(m)[name + "_orig"]));
            Assert.Equal(expectedZeros, Buffers(m)[name + "_mask"].eq(0).sum().item<long>());
            Assert.Equal(PruneFixtures.Values(Params(m)[name + "_orig"] * Buffers(m)[name + "_mask"]), PruneFixtures.Values(Prune.TensorOf(m, name)));
        }
    }

    [Fact]
    public void A_pruned_batchnorm_scale_zeroes_its_channels_in_the_forward()
    {
        using var scope = torch.NewDisposeScope();
        var bn = nn.BatchNorm2d(4);
        using (torch.no_grad())
        {
            bn.weight!.copy_(torch.tensor(new float[] { 0.5f, -2f, 0.1f, 3f }));
            bn.bias!.copy_(torch.tensor(new float[] { 1f, 2f, 3f, 4f }));
        }
        bn.eval();
        Prune.L1Unstructured(bn, "weight", 2);
        Assert.Equal(new float[] { 0, 1, 0, 1 }, PruneFixtures.Values(Buffers(bn)["weight_mask"]));
        var y = bn.call(torch.randn(2, 4, 3, 3));
        // Eval with fresh running statistics (mean 0, var 1): a channel whose scale is pruned outputs its bias alone.
        Assert.Equal((1f, 1f), (y[.., 0].min().item<float>(), y[.., 0].max().item<float>()));
        Assert.Equal((3f, 3f), (y[.., 2].min().item<float>(), y[.., 2].max().item<float>()));
        Assert.True(y[.., 1].max().item<float>() > y[.., 1].min().item<float>());
    }
}
