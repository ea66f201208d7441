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

    [Fact]
    public void Only_convs_of_whole_16_channel_blocks_per_group_or_a_first_conv_of_fewer_channels_may_run_with_oneDNN()
    {
        static bool Allowed(int cin, int cout, int groups) => ConvKernels.InBlockedChannels(
            ConvShape.Of("c", nn.Conv2d(cin, cout, 3, padding: 1, groups: groups), [1, cin, 8, 8]));
        (int Cin, int Cout, int Groups)[] cases =
        [
            (1, 32, 1), (3, 16, 1), (12, 16, 1), (16, 16, 1), (32, 64, 1), (48, 48, 1), (32, 64, 2),
            (3, 6, 1), (6, 4, 1), (16, 24, 1), (24, 16, 1), (16, 8, 1), (1, 8, 1), (32, 32, 32), (48, 48, 2),
        ];
        var allowed = cases.Where(c => Allowed(c.Cin, c.Cout, c.Groups)).ToList();
        // 32→64 in 2 groups is 16→32 per group; depthwise 32 is 1→1 per group; 48 in 2 groups is 24→24 per group.
        Assert.Equal([(1, 32, 1), (3, 16, 1), (12, 16, 1), (16, 16, 1), (32, 64, 1), (48, 48, 1), (32, 64, 2)], allowed);
    }

    [Fact]
    public void A_model_with_8_channel_convs_keeps_libtorchs_own_kernels_where_oneDNN_was_found_wrong_without_being_checked()
    {
        manual_seed(1);
        var net = nn.Sequential(nn.Conv2d(3, 8, 3, padding: 1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding: 1), nn.Flatten(),
            nn.Linear(8 * 8 * 8, 5));
        bool before = ConvKernels.UsesOneDnn;
        using (var scope = ConvKernels.ForModel(net, [1, 3, 8, 8], [32]))
        {
            if (ConvKernels.ChecksModels)
            {
                Assert.False(ConvKernels.UsesOneDnn, scope.Status);
                Assert.Contains("3→8 channels per group, not whole blocks of 16", scope.Status);
            }
            else Assert.Equal(before, ConvKernels.UsesOneDnn);   // oneDNN right on this CPU (or forced): the default stands
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
