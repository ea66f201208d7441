using System.Text.Json;
using TorchSharp;
using Trainer.Core.Pruning.TorchPrune;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.TorchPrune;

/// <summary>Masks and pruned weights against PyTorch 1.13's torch.nn.utils.prune on the fixture tensors, bit for bit.</summary>
public class PruneParityTests
{
    public static IEnumerable<object[]> Cases() => PruneFixtures.CaseNames();

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_step_leaves_the_masks_and_weights_PyTorch_left(string name)
    {
        using var scope = torch.NewDisposeScope();
        var fixture = PruneFixtures.Case(name);
        var modules = fixture.GetProperty("modules").EnumerateArray().Select(PruneFixtures.Module).ToList();
        var steps = fixture.GetProperty("steps").EnumerateArray().ToList();
        var masks = fixture.GetProperty("masks").EnumerateArray().ToList();
        var weights = fixture.GetProperty("weights").EnumerateArray().ToList();
        for (int s = 0; s < steps.Count; s++)
        {
            PruneFixtures.Apply(steps[s], modules);
            var expectedMasks = masks[s].EnumerateArray().ToList();
            var expectedWeights = weights[s].EnumerateArray().ToList();
            for (int m = 0; m < modules.Count; m++)
            {
                string where = $"step {s} ({steps[s].GetProperty("op").GetString()}), module {m}";
                var buffers = modules[m].named_buffers(recurse: false).ToDictionary(b => b.name, b => b.buffer);
                if (expectedMasks[m].ValueKind == JsonValueKind.Null)
                {
                    Assert.False(buffers.ContainsKey("weight_mask"), where);
                    continue;
                }
                Assert.True(PruneFixtures.Floats(expectedMasks[m]).SequenceEqual(PruneFixtures.Values(buffers["weight_mask"])), $"mask differs at {where}");
                Assert.True(PruneFixtures.Floats(expectedWeights[m]).SequenceEqual(PruneFixtures.Values(Prune.TensorOf(modules[m], "weight"))), $"weight differs at {where}");
            }
        }
    }

    [Fact]
    public void A_container_computes_the_latest_methods_mask_on_what_the_prior_mask_leaves()
    {
        using var scope = torch.NewDisposeScope();
        var fixture = PruneFixtures.Root.GetProperty("container");
        var shape = PruneFixtures.Longs(fixture.GetProperty("shape"));
        var t = torch.tensor(PruneFixtures.Floats(fixture.GetProperty("t"))).reshape(shape);
        var defaultMask = torch.tensor(PruneFixtures.Longs(fixture.GetProperty("default_mask"))).reshape(shape);
        var container = new PruningContainer("test");
        foreach (var step in fixture.GetProperty("steps").EnumerateArray())
        {
            PruningMethod method = step.GetProperty("op").GetString() == "l1_unstructured"
                ? new L1Unstructured(PruneFixtures.Amount(step))
                : new LnStructured(PruneFixtures.Amount(step), PruneFixtures.Norm(step.GetProperty("n")), step.GetProperty("dim").GetInt64());
            method.TensorName = "test";
            container.Add(method);
            var mask = container.ComputeMask(t, defaultMask);
            Assert.Equal(ScalarType.Float32, mask.dtype);
            Assert.Equal(PruneFixtures.Floats(step.GetProperty("mask")), PruneFixtures.Values(mask));
        }
        Assert.Equal(3, container.Count);
    }

    [Fact]
    public void A_fraction_becomes_a_count_rounded_half_to_even_as_Python_rounds()
    {
        foreach (var c in PruneFixtures.Root.GetProperty("rounding").EnumerateArray())
        {
            PruningAmount amount = c.GetProperty("fraction").GetDouble();
            Assert.Equal(c.GetProperty("to_prune").GetInt64(), amount.ToPrune(c.GetProperty("size").GetInt64(), "entries"));
        }
    }

    [Fact]
    public void Prune_multiplies_the_tensor_by_the_mask_of_its_importance_scores()
    {
        // PyTorch's test_prune / test_prune_importance_scores: two of the entries the prior mask leaves go.
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }).reshape(2, 4);
        var prior = torch.tensor(new float[] { 1, 1, 1, 0, 1, 1, 0, 1 }).reshape(2, 4);
        var byValue = new L1Unstructured(2).Prune(t, prior);
        Assert.Equal(new float[] { 0, 0, 3, 0, 5, 6, 0, 8 }, PruneFixtures.Values(byValue));
        var scores = torch.tensor(new float[] { 1, 2, 3, 4, 1.5f, 1.6f, 1.7f, 1.8f }).reshape(2, 4);
        var byScores = new L1Unstructured(2).Prune(t, prior, scores);
        Assert.Equal(new float[] { 0, 2, 3, 0, 0, 6, 0, 8 }, PruneFixtures.Values(byScores));
    }

    [Fact]
    public void Random_unstructured_prunes_exactly_the_rounded_count_of_tied_entries()
    {
        using var scope = torch.NewDisposeScope();
        var t = (2 * torch.randint(-1, 2, [10, 7])).to(ScalarType.Float32);
        var mask = new L1Unstructured(0.2).ComputeMask(t, torch.ones_like(t));
        Assert.Equal(14, mask.eq(0).sum().item<long>());
        var random = new RandomUnstructured(0.2).ComputeMask(t, torch.ones_like(t));
        Assert.Equal(14, random.eq(0).sum().item<long>());
    }

    [Fact]
    public void Random_structured_prunes_whole_channels_along_its_dim()
    {
        using var scope = torch.NewDisposeScope();
        var t = (2 * torch.randint(-1, 2, [5, 4, 2])).to(ScalarType.Float32);
        var mask = new RandomStructured(0.6, dim: 2).ComputeMask(t, torch.ones_like(t));
        var zerosPerColumn = mask.eq(0).sum([0, 1]).data<long>().ToArray().Order().ToArray();
        Assert.Equal(new long[] { 0, 20 }, zerosPerColumn);
    }
}
