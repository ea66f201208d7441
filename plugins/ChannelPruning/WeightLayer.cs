using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Plugins.ChannelPruning;

/// <summary>
/// A weight layer of the model: Conv1d/2d/3d, ConvTranspose1d/2d/3d or Linear. For Conv2d and Linear (the layers the editor
/// samples) the weight is also seen as a matrix [Cout, In·kk] (kk = kernel area, 1 for a Linear), the column order of the
/// editor's sampled input patches [N, In, kk].
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

    /// <summary>The module's type name, e.g. "Conv2d" or "ConvTranspose2d".</summary>
    public string Type => Module.GetType().Name;

    /// <summary>True for Conv2d and Linear, the layers <c>IModelEditor.Sample</c> samples and LASSO reconstructs.</summary>
    public bool IsSampled => Module is Conv2d or Linear;

    /// <summary>True for a transposed convolution (weight [in, out/groups, kernel...]).</summary>
    public bool IsTransposed => Module is ConvolutionTranspose;

    /// <summary>Current weight: [Cout, In/groups, kernel...], [In, Cout/groups, kernel...] (transposed) or [Cout, In].</summary>
    public Parameter Weight { get; }

    /// <summary>Current bias, when the layer has one.</summary>
    public Parameter? Bias { get; }

    /// <summary>Conv groups (1 for a Linear).</summary>
    public long Groups { get; }

    /// <summary>Input positions per input channel: the kernel's volume, 1 for a Linear.</summary>
    public long KernelArea => Weight.shape.Skip(2).Aggregate(1L, (a, b) => a * b);

    /// <summary>Input channels (features for a Linear).</summary>
    public long InChannels => IsTransposed ? Weight.shape[0] : Module is Linear ? Weight.shape[1] : Weight.shape[1] * Groups;

    /// <summary>Finds the layer named <paramref name="name"/> in <paramref name="model"/>; null when it is not a
    /// convolution or Linear.</summary>
    public static WeightLayer? Find(nn.Module<Tensor, Tensor> model, string name)
    {
        foreach (var (path, module) in model.named_modules())
        {
            if (path != name) continue;
            return module switch
            {
                Convolution c => new WeightLayer(name, c, c.weight, c.bias, c.groups),
                Linear l => new WeightLayer(name, l, l.weight, l.bias, 1),
                _ => null,
            };
        }
        return null;
    }

    /// <summary>The weight as [Cout, In·kk] (a view); Conv2d and Linear only.</summary>
    public Tensor Matrix()
    {
        if (!IsSampled) throw new InvalidOperationException($"{Name} is a {Type}; only a Conv2d or Linear weight is read as a matrix.");
        return Weight.reshape(Weight.shape[0], -1);
    }

    /// <summary>Overwrites input columns [<paramref name="firstInput"/>·kk, …) of the weight with <paramref name="block"/>
    /// ([Cout, inputs, kk] or [Cout, inputs·kk]), without recording a gradient; Conv2d and Linear only.</summary>
    public void WriteInputBlock(long firstInput, Tensor block)
    {
        if (!IsSampled) throw new InvalidOperationException($"{Name} is a {Type}; only a Conv2d or Linear weight is refit.");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var matrix = Weight.view(Weight.shape[0], -1);
        var flat = block.reshape(Weight.shape[0], -1);
        matrix.narrow(1, firstInput * KernelArea, flat.shape[1]).copy_(flat);
    }
}
