using TorchSharp;
using Trainer.Core.Checkpoints;
using Trainer.Core.Pruning.TorchPrune;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.TorchPrune;

/// <summary>A masked model saves and loads through the project's checkpoints, weight_orig and weight_mask included.</summary>
public sealed class PrunedCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("prune-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (nn.Module<Tensor, Tensor> Model, nn.Module<Tensor, Tensor> Conv, nn.Module<Tensor, Tensor> Fc) Build()
    {
        var conv = nn.Conv2d(1, 4, 3);
        var fc = nn.Linear(4 * 4 * 4, 3);
        return (nn.Sequential(("conv", conv), ("relu", nn.ReLU()), ("flat", nn.Flatten()), ("fc", fc)), conv, fc);
    }

    private static float[] Values(Tensor t) => PruneFixtures.Values(t);

    private static Tensor Buffer(nn.Module m, string name) => m.named_buffers(recurse: false).Single(b => b.name == name).buffer;

    private static Tensor Param(nn.Module m, string name) => m.named_parameters(recurse: false).Single(p => p.name == name).parameter;

    [Fact]
    public void A_pruned_model_reloads_into_the_same_reparametrisation_with_its_masks_and_output()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(11);
        var (model, conv, fc) = Build();
        Prune.LnStructured(conv, "weight", 2, 1, 0);
        Prune.L1Unstructured(fc, "weight", 0.6);
        Prune.RandomUnstructured(fc, "bias", 1);
        var x = torch.randn(2, 1, 6, 6);
        var expected = Values(model.call(x));
        var path = Path.Combine(_dir, "pruned.ckpt");
        CheckpointFile.SaveWeights(path, model);

        torch.manual_seed(99);
        var (fresh, freshConv, freshFc) = Build();
        // As in PyTorch, the network a pruned state loads into is pruned the same way first (identity masks suffice).
        Prune.Identity(freshConv, "weight");
        Prune.Identity(freshFc, "weight");
        Prune.Identity(freshFc, "bias");
        CheckpointFile.LoadWeights(path, fresh);

        Assert.Equal(Values(Buffer(conv, "weight_mask")), Values(Buffer(freshConv, "weight_mask")));
        Assert.Equal(Values(Buffer(fc, "weight_mask")), Values(Buffer(freshFc, "weight_mask")));
        Assert.Equal(Values(Buffer(fc, "bias_mask")), Values(Buffer(freshFc, "bias_mask")));
        Assert.Equal(Values(Param(fc, "weight_orig")), Values(Param(freshFc, "weight_orig")));
        Assert.Equal(2 * 9, Buffer(freshConv, "weight_mask").eq(0).sum().item<long>());
        Assert.Equal(expected, Values(fresh.call(x)));
        Assert.Equal(Values(Prune.TensorOf(fc, "weight")), Values(Prune.TensorOf(freshFc, "weight")));
    }

    [Fact]
    public void A_pruned_checkpoint_does_not_fit_an_unpruned_network_and_says_so()
    {
        using var scope = torch.NewDisposeScope();
        var (model, conv, _) = Build();
        Prune.L1Unstructured(conv, "weight", 3);
        var path = Path.Combine(_dir, "pruned.ckpt");
        CheckpointFile.SaveWeights(path, model);
        var (plain, _, _) = Build();
        var before = Values(plain.named_parameters().First().parameter);
        var e = Assert.Throws<CheckpointException>(() => CheckpointFile.LoadWeights(path, plain));
        Assert.True(e.DoesNotFit);
        Assert.Equal(before, Values(plain.named_parameters().First().parameter));
    }

    [Fact]
    public void After_remove_the_checkpoint_loads_into_the_plain_architecture()
    {
        using var scope = torch.NewDisposeScope();
        var (model, conv, fc) = Build();
        Prune.L1Unstructured(fc, "weight", 0.5);
        Prune.Remove(fc, "weight");
        var path = Path.Combine(_dir, "final.ckpt");
        CheckpointFile.SaveWeights(path, model);
        var (plain, _, plainFc) = Build();
        CheckpointFile.LoadWeights(path, plain);
        Assert.Equal(Values(fc.get_parameter("weight")!), Values(Param(plainFc, "weight")));
        Assert.Equal(96, Param(plainFc, "weight").eq(0).sum().item<long>());
    }

    [Fact]
    public void Training_of_a_pruned_model_resumes_from_a_checkpoint_exactly_with_masked_entries_still_zero()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        var (model, conv, fc) = Build();
        Prune.L1Unstructured(fc, "weight", 0.5);
        Prune.LnStructured(conv, "weight", 1, 2, 0);
        var x = torch.randn(4, 1, 6, 6);
        var target = torch.randn(4, 3);
        var sgd = optim.SGD(model.parameters(), 0.05, momentum: 0.9);
        void Step(nn.Module<Tensor, Tensor> m, optim.Optimizer o)
        {
            using var stepScope = torch.NewDisposeScope();
            o.zero_grad();
            nn.functional.mse_loss(m.call(x), target).backward();
            o.step();
        }
        Step(model, sgd);
        var path = Path.Combine(_dir, "resume.ckpt");
        CheckpointFile.Save(path, new CheckpointState { Epoch = 0, GlobalStep = 1, Metrics = [], RngState = [] }, model, sgd);

        var (fresh, freshConv, freshFc) = Build();
        Prune.Identity(freshFc, "weight");
        Prune.Identity(freshConv, "weight");
        var freshSgd = optim.SGD(fresh.parameters(), 0.05, momentum: 0.9);
        CheckpointFile.Load(path, fresh, freshSgd);
        Step(model, sgd);
        Step(fresh, freshSgd);

        Assert.Equal(Values(Param(fc, "weight_orig")), Values(Param(freshFc, "weight_orig")));
        Assert.Equal(Values(Param(conv, "weight_orig")), Values(Param(freshConv, "weight_orig")));
        var pruned = Prune.TensorOf(freshFc, "weight");
        Assert.Equal(96, pruned.eq(0).sum().item<long>());
        Assert.Equal(0, pruned.masked_select(Buffer(freshFc, "weight_mask").eq(0)).abs().sum().item<float>());
    }
}
