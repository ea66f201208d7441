using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Admm;

/// <summary>ADMM's auxiliary variables for each constrained layer: Z (the projection onto the sparsity set) and U (the
/// scaled dual), both shaped as the layer's weight; outside any dispose scope, released by <see cref="Dispose"/>.</summary>
public sealed class AdmmState : IDisposable
{
    private readonly Dictionary<string, Tensor> z = [];
    private readonly Dictionary<string, Tensor> u = [];

    /// <summary>Z = W and U = 0 for every layer the targets cover (NNI's reset).</summary>
    public AdmmState(nn.Module<Tensor, Tensor> model, IReadOnlyList<IAdmmTarget> targets, double rho)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(targets);
        if (!(rho > 0) || !double.IsFinite(rho)) throw new ArgumentException($"ADMM rho {rho}: need a positive number (NNI: 1e-4)", nameof(rho));
        Rho = rho;
        Targets = targets;
        Layers = targets.SelectMany(t => t.Layers).Distinct().ToList();
        if (Layers.Count != targets.Sum(t => t.Layers.Count))
            throw new ArgumentException("two ADMM targets cover the same layer; give each layer to one target", nameof(targets));
        foreach (var (layer, w) in Weights(model, Layers))
        {
            z[layer] = w.detach().clone().DetachFromDisposeScope();
            u[layer] = zeros_like(w).DetachFromDisposeScope();
        }
    }

    /// <summary>The penalty ρ.</summary>
    public double Rho { get; }

    /// <summary>The constraints.</summary>
    public IReadOnlyList<IAdmmTarget> Targets { get; }

    /// <summary>Every constrained layer.</summary>
    public IReadOnlyList<string> Layers { get; }

    /// <summary>Z per layer.</summary>
    public IReadOnlyDictionary<string, Tensor> Z => z;

    /// <summary>U per layer.</summary>
    public IReadOnlyDictionary<string, Tensor> U => u;

    /// <summary>NNI's Z- and U-steps after a W-step: Z = Π(W + U) (each target's projection), U = U + W − Z.</summary>
    /// <returns>The primal residual ‖W − Z‖_F over all layers after the update.</returns>
    public double Update(nn.Module<Tensor, Tensor> model)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var weights = Weights(model, Layers).ToDictionary(kv => kv.Key, kv => kv.Value.detach());
        var sum = weights.ToDictionary(kv => kv.Key, kv => kv.Value + u[kv.Key]);
        double residual = 0;
        foreach (var target in Targets)
        {
            var masks = target.Masks(target.Layers.ToDictionary(l => l, l => sum[l]));
            foreach (var layer in target.Layers)
            {
                var newZ = (sum[layer] * masks[layer]).DetachFromDisposeScope();
                var newU = (u[layer] + weights[layer] - newZ).DetachFromDisposeScope();
                z[layer].Dispose();
                u[layer].Dispose();
                z[layer] = newZ;
                u[layer] = newU;
                residual += (weights[layer] - newZ).pow(2).sum().to_type(ScalarType.Float64).item<double>();
            }
        }
        return Math.Sqrt(residual);
    }

    /// <summary>The weights of <paramref name="layers"/> in <paramref name="model"/> (Conv2d or Linear modules).</summary>
    /// <exception cref="ArgumentException">A layer is not a Conv2d or Linear of the model.</exception>
    public static IReadOnlyDictionary<string, Tensor> Weights(nn.Module<Tensor, Tensor> model, IReadOnlyList<string> layers)
    {
        ArgumentNullException.ThrowIfNull(model);
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        return layers.ToDictionary(l => l, l => modules.GetValueOrDefault(l) switch
        {
            Conv2d c => (Tensor)c.weight!,
            Linear lin => lin.weight!,
            _ => throw new ArgumentException($"'{l}' is not a Conv2d or Linear module of the model; ADMM constrains their weights", nameof(layers)),
        });
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var t in z.Values.Concat(u.Values)) t.Dispose();
        z.Clear();
        u.Clear();
    }
}
