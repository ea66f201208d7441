using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Models;

/// <summary>A freshly built model's GroupNorm layers start at PyTorch's defaults (weight 1, bias 0), which TorchSharp 0.107
/// leaves uninitialised.</summary>
public sealed class GroupNormDefaultsTests
{
    private static nn.Module<Tensor, Tensor> ConvGroupNorm() =>
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(2, 8), nn.ReLU(), nn.Conv2d(8, 4, 1), nn.GroupNorm(4, 4, affine: false));

    [Fact]
    public void A_model_built_through_LoadedModel_has_its_group_norms_at_weight_one_and_bias_zero()
    {
        var model = LoadedModel.Of("gn-net", ConvGroupNorm, [1, 3, 8, 8]);
        using var network = model.Network;
        var norm = (TorchSharp.Modules.GroupNorm)network.named_modules().Single(m => m.name == "1").module;
        Assert.Equal(Enumerable.Repeat(1f, 8), norm.weight!.data<float>().ToArray());
        Assert.Equal(Enumerable.Repeat(0f, 8), norm.bias!.data<float>().ToArray());

        // Its factory (used to rebuild the architecture from a manifest) does the same.
        using var again = model.Create();
        var rebuilt = (TorchSharp.Modules.GroupNorm)again.named_modules().Single(m => m.name == "1").module;
        Assert.Equal(Enumerable.Repeat(1f, 8), rebuilt.weight!.data<float>().ToArray());
    }

    [Fact]
    public void Reset_counts_every_group_norm_and_leaves_other_layers_alone()
    {
        using var network = ConvGroupNorm();
        var conv = (TorchSharp.Modules.Conv2d)network.named_modules().Single(m => m.name == "0").module;
        var before = conv.weight!.data<float>().ToArray();
        Assert.Equal(2, GroupNormDefaults.Reset(network));   // the affine-free one counts too; it has nothing to set
        Assert.Equal(before, conv.weight!.data<float>().ToArray());
        using var output = network.call(ones(2, 3, 8, 8));
        Assert.True(output.isfinite().all().item<bool>());
    }
}
