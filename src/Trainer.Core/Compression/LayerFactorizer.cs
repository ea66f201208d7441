using TorchSharp.Modules;
using Trainer.Abstractions.Compression;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>
/// Replaces a Conv2d (k×k, Cin→Cout, groups 1) by Sequential(conv k×k Cin→rank with the same stride, padding, dilation and
/// padding mode, no bias; conv 1×1 rank→Cout, with a bias when the original had one), or a Linear by Sequential(Linear
/// in→rank without bias, Linear rank→out). The new layers are freshly initialised; the caller fills them. The old layer's
/// path becomes the Sequential's, so "fc1" turns into "fc1.0" and "fc1.1".
/// </summary>
public static class LayerFactorizer
{
    /// <summary>Factorizes <paramref name="layer"/> of <paramref name="model"/> in place.</summary>
    /// <exception cref="ArgumentException">The layer is not a Conv2d/Linear of the model (closest names given), is a grouped conv,
    /// <paramref name="rank"/> is outside [1, min(Cout, Cin·kh·kw)], or the field holding the layer is typed Conv2d/Linear and cannot
    /// hold a Sequential; the model is unchanged.</exception>
    /// <remarks>The replaced layer is not disposed, so weights read from it before the call stay valid.</remarks>
    public static FactorizedLayer Factorize(nn.Module<Tensor, Tensor> model, string layer, int rank)
    {
        ArgumentNullException.ThrowIfNull(model);
        var module = Find(model, layer);
        long fullRank = module switch
        {
            Conv2d { groups: not 1 } conv => throw new ArgumentException(
                $"'{layer}' is a grouped conv ({conv.groups} groups); only convs with groups 1 can be factorized", nameof(layer)),
            Conv2d conv => Math.Min(conv.out_channels, conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]),
            Linear linear => Math.Min(linear.out_features, linear.in_features),
            _ => throw new ArgumentException(
                $"'{layer}' is a {module.GetType().Name}; only Conv2d and Linear layers can be factorized", nameof(layer)),
        };
        if (rank < 1 || rank > fullRank)
            throw new ArgumentException($"rank {rank} for '{layer}' is outside [1, {fullRank}] (the rank of its weight matrix)", nameof(rank));

        var (first, second, weight) = module is Conv2d c ? ForConv(c, rank) : ForLinear((Linear)module, rank);
        first.to(weight.device, weight.dtype);
        second.to(weight.device, weight.dtype);
        var sequential = nn.Sequential(("0", first), ("1", second));
        try
        {
            ModuleReplacer.Replace(model, layer, sequential);
        }
        catch (ArgumentException e)
        {
            sequential.Dispose();
            throw new ArgumentException($"cannot factorize '{layer}': {e.Message} (declare the field as nn.Module<Tensor, Tensor>)",
                nameof(layer), e);
        }
        return new FactorizedLayer(first, second);
    }

    /// <summary>The module at <paramref name="path"/>, or an error naming the closest Conv2d/Linear paths.</summary>
    internal static nn.Module Find(nn.Module<Tensor, Tensor> model, string path)
    {
        if (!string.IsNullOrEmpty(path))
            foreach (var (name, module) in model.named_modules())
                if (name == path) return module;
        var candidates = model.named_modules().Where(m => m.module is Conv2d or Linear).Select(m => m.name).ToList();
        throw new ArgumentException($"the model has no layer '{path}'; closest Conv2d/Linear layers: " +
                                    string.Join(", ", NameSuggestions.Closest(path ?? "", candidates)), nameof(path));
    }

    private static (nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>, Tensor) ForConv(Conv2d conv, int rank)
    {
        var kernel = (conv.kernel_size[0], conv.kernel_size[1]);
        var stride = (conv.stride[0], conv.stride[1]);
        var dilation = (conv.dilation[0], conv.dilation[1]);
        Conv2d first = conv.padding is { } padding
            ? nn.Conv2d(conv.in_channels, rank, kernel, stride, (padding[0], padding[1]), dilation, conv.padding_mode, bias: false)
            : nn.Conv2d(conv.in_channels, rank, kernel, conv.padding_type!.Value, stride, dilation, conv.padding_mode, bias: false);
        var second = nn.Conv2d(rank, conv.out_channels, 1, bias: conv.bias is not null);
        return (first, second, conv.weight!);
    }

    private static (nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>, Tensor) ForLinear(Linear linear, int rank) =>
        (nn.Linear(linear.in_features, rank, hasBias: false), nn.Linear(rank, linear.out_features, hasBias: linear.bias is not null),
            linear.weight!);
}
