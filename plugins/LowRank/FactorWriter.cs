using Trainer.Abstractions.Compression;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Plugins.LowRank;

/// <summary>Reads a Conv2d/Linear's weight and bias, and fills the two layers the editor made from it.</summary>
public static class FactorWriter
{
    /// <summary>The weight and bias (null when none) of <paramref name="layer"/>, a Conv2d or Linear of
    /// <paramref name="model"/>; the tensors are copies owned by the caller.</summary>
    public static (Tensor Weight, Tensor? Bias) ReadWeights(nn.Module<Tensor, Tensor> model, string layer)
    {
        var module = model.named_modules().FirstOrDefault(m => m.name == layer).module
                     ?? throw new ArgumentException($"the model has no layer '{layer}'");
        var (weight, bias) = module switch
        {
            Conv2d c => (c.weight, c.bias),
            Linear l => (l.weight, l.bias),
            _ => throw new ArgumentException($"layer '{layer}' is a {module.GetType().Name}, not a Conv2d or Linear"),
        };
        using var noGrad = no_grad();
        return (weight!.detach().clone().DetachFromDisposeScope(), bias?.detach().clone().DetachFromDisposeScope());
    }

    /// <summary>Copies <paramref name="factors"/> into <paramref name="layers"/>: Q into the first layer
    /// ([r, Cin, k, k] or [r, in]), P into the second ([Cout, r, 1, 1] or [out, r]) and the bias into the second's.</summary>
    public static void Write(FactorizedLayer layers, LowRankFactors factors)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (firstWeight, _) = Parameters(layers.First);
        var (secondWeight, secondBias) = Parameters(layers.Second);
        CopyInto(firstWeight, factors.Q, "first");
        CopyInto(secondWeight, factors.P, "second");
        if (factors.Bias is not null)
        {
            if (secondBias is null)
                throw new InvalidOperationException("the factorized layer's second part has no bias, but the original layer had one");
            CopyInto(secondBias, factors.Bias, "second bias");
        }
    }

    private static (Parameter Weight, Parameter? Bias) Parameters(nn.Module<Tensor, Tensor> module) => module switch
    {
        Conv2d c => (c.weight!, c.bias),
        Linear l => (l.weight!, l.bias),
        _ => throw new InvalidOperationException($"the editor returned a {module.GetType().Name}, expected a Conv2d or Linear"),
    };

    private static void CopyInto(Tensor target, Tensor source, string what)
    {
        if (target.numel() != source.numel())
            throw new InvalidOperationException(
                $"the {what} layer's weight has shape [{string.Join(", ", target.shape)}], which does not hold a factor of shape " +
                $"[{string.Join(", ", source.shape)}]");
        target.copy_(source.reshape(target.shape).to_type(target.dtype));
    }
}
