using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// A Conv2d or Linear of the model seen as a matrix: its weight as [Cout, In·kk] (kk = kernel area, 1 for a Linear),
/// the column order of the editor's sampled input patches [N, In, kk].
/// </summary>
internal sealed class WeightLayer
{
    private WeightLayer(string name, nn.Module<Tensor, Tensor> module, Parameter weight, Parameter? bias, long groups)
    {
        Name = name;
        Module = module;
        Weight = weight;
        Bias = bias;
        Groups = groups;
    }

    /// <summary>Qualified module path.</summary>
    public string Name { get; }

    /// <summary>The layer itself.</summary>
    public nn.Module<Tensor, Tensor> Module { get; }

    /// <summary>Current weight: [Cout, In, kh, kw] or [Cout, In].</summary>
    public Parameter Weight { get; }

    /// <summary>Current bias, when the layer has one.</summary>
    public Parameter? Bias { get; }

    /// <summary>Conv groups (1 for a Linear).</summary>
    public long Groups { get; }

    /// <summary>Input positions per input channel: kh·kw, 1 for a Linear.</summary>
    public long KernelArea => Weight.dim() == 4 ? Weight.shape[2] * Weight.shape[3] : 1;

    /// <summary>Finds the layer named <paramref name="name"/> in <paramref name="model"/>; null when it is not a Conv2d
    /// or Linear.</summary>
    public static WeightLayer? Find(nn.Module<Tensor, Tensor> model, string name)
    {
        foreach (var (path, module) in model.named_modules())
        {
            if (path != name) continue;
            return module switch
            {
                Conv2d c => new WeightLayer(name, c, c.weight, c.bias, c.groups),
                Linear l => new WeightLayer(name, l, l.weight, l.bias, 1),
                _ => null,
            };
        }
        return null;
    }

    /// <summary>The weight as [Cout, In·kk] (a view).</summary>
    public Tensor Matrix() => Weight.reshape(Weight.shape[0], -1);

    /// <summary>Overwrites input columns [<paramref name="firstInput"/>·kk, …) of the weight with <paramref name="block"/>
    /// ([Cout, inputs, kk] or [Cout, inputs·kk]), without recording a gradient.</summary>
    public void WriteInputBlock(long firstInput, Tensor block)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var matrix = Weight.view(Weight.shape[0], -1);
        var flat = block.reshape(Weight.shape[0], -1);
        matrix.narrow(1, firstInput * KernelArea, flat.shape[1]).copy_(flat);
    }
}
