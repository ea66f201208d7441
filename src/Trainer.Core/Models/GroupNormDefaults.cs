using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>
/// TorchSharp 0.107's <c>nn.GroupNorm</c> allocates its affine weight and bias without initialising them (whatever the
/// memory held: values such as 6.9e10 were seen), where PyTorch sets weight 1 and bias 0. A freshly built model goes
/// through <see cref="Reset"/> before it trains or is compared, so a user's GroupNorm starts as PyTorch's does.
/// </summary>
public static class GroupNormDefaults
{
    /// <summary>Sets every affine GroupNorm of <paramref name="model"/> to weight 1, bias 0 (PyTorch's reset_parameters).
    /// Only for a model just constructed: trained weights loaded afterwards replace these values.</summary>
    /// <returns>How many GroupNorm layers were reset.</returns>
    public static int Reset(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var count = 0;
        using var noGrad = no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not TorchSharp.Modules.GroupNorm norm) continue;
            if (norm.weight is { } weight) nn.init.ones_(weight);
            if (norm.bias is { } bias) nn.init.zeros_(bias);
            count++;
        }
        return count;
    }

    /// <summary>A factory whose models come out with <see cref="Reset"/> applied.</summary>
    public static Func<nn.Module<Tensor, Tensor>> Wrap(Func<nn.Module<Tensor, Tensor>> create) => () =>
    {
        var model = create();
        Reset(model);
        return model;
    };
}
