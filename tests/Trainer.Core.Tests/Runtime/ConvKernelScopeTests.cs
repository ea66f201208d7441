using Trainer.Core.Runtime;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Runtime;

/// <summary>Per-model kernels: a model whose every conv oneDNN computes right runs with oneDNN even where other shapes
/// made the process turn it off; a model with a shape oneDNN gets wrong keeps libtorch's own kernels.</summary>
[Trait("Category", "Numeric")]
public sealed class ConvKernelScopeTests
{
    private static nn.Module<Tensor, Tensor> Net(int width)
    {
        manual_seed(1);
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding: 1), nn.ReLU(), nn.Conv2d(32, width, 3, padding: 1), nn.ReLU(),
            nn.Conv2d(width, 32, 3, padding: 1), nn.Flatten(), nn.Linear(32 * 8 * 8, 3));
    }

    [Fact]
    public void A_model_runs_with_oneDNN_only_where_all_its_convs_are_right_and_the_scope_restores_the_default()
    {
        bool before = ConvKernels.UsesOneDnn;
        using (var scope = ConvKernels.ForModel(Net(64), [1, 1, 8, 8], [16, 4]))
        {
            // Either oneDNN was right on this CPU all along, or every shape of this model checked right: oneDNN runs it.
            Assert.True(ConvKernels.UsesOneDnn, scope.Status);
        }
        Assert.Equal(before, ConvKernels.UsesOneDnn);

        using (var scope = ConvKernels.ForModel(Net(24), [1, 1, 8, 8], [16, 4]))
        {
            // 24 channels into a 3x3 conv at batch 16 (a width oneDNN gets wrong on some CPUs): right with the kernels this
            // scope leaves in force, whichever they are.
            Assert.Empty(ModelFaults(Net(24)));
        }
        Assert.Equal(before, ConvKernels.UsesOneDnn);
    }

    /// <summary>The model's convs at batch 16, forward and backward, with the kernels in force, against float64.</summary>
    private static List<string> ModelFaults(nn.Module<Tensor, Tensor> model)
    {
        var faults = new List<string>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is not TorchSharp.Modules.Conv2d conv) continue;
            using var scope = NewDisposeScope();
            var x = randn([16, conv.in_channels, 8, 8], generator: new Generator(2));
            var y = Trainer.Core.Models.ConvCall.Forward(conv, x, conv.weight.detach(), conv.bias?.detach());
            if (!(ConvReference.Check((i, w, b) => Trainer.Core.Models.ConvCall.Forward(conv, i, w, b), x, conv.weight.detach(), conv.bias?.detach(), y).Excess <= 1))
                faults.Add(name);
        }
        return faults;
    }
}
