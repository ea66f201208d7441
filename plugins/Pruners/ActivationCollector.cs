using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>
/// NNI v2.10's ActivationPruner data collector: a forward hook on each selected Conv2d/Linear applies the configured
/// activation to the layer's output (NNI hooks the layer itself, not the module after it, so a BatchNorm in between is
/// not seen) and sums over the batch dimension either the zero indicator (APoZ) or the activation (mean rank), with the
/// number of samples summed. It collects in training mode only, over the first <c>batches</c> forward calls of each layer
/// (NNI compares its sample counter with training_steps, so with batches larger than training_steps it sees one batch
/// only; here the count is batches, as the setting's name says). Dispose to remove the hooks and free the sums.
/// </summary>
public sealed class ActivationCollector : IDisposable
{
    private readonly PrunerKind kind;
    private readonly string activation;
    private readonly int batches;
    private readonly Dictionary<string, Tensor> sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> samples = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> seen = new(StringComparer.Ordinal);
    private readonly List<Action> removers = [];

    /// <summary>Hooks <paramref name="layers"/> of <paramref name="model"/>.</summary>
    /// <param name="model">The model the task trains.</param>
    /// <param name="layers">Qualified names of the Conv2d/Linear layers to watch.</param>
    /// <param name="kind"><see cref="PrunerKind.Apoz"/> or <see cref="PrunerKind.MeanActivation"/>.</param>
    /// <param name="activation">"relu", "gelu" or "relu6".</param>
    /// <param name="batches">Forward calls (training batches) collected per layer.</param>
    public ActivationCollector(nn.Module model, IEnumerable<string> layers, PrunerKind kind, string activation, int batches)
    {
        if (kind is not (PrunerKind.Apoz or PrunerKind.MeanActivation))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "activation collection is for apoz and mean-activation");
        this.kind = kind;
        this.activation = activation;
        this.batches = batches;
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            if (modules[layer] is not nn.Module<Tensor, Tensor> hookable)
                throw new ArgumentException($"layer '{layer}' ({modules[layer].GetType().Name}) takes no single tensor; it cannot be hooked", nameof(layers));
            var name = layer;
            samples[name] = 0;
            seen[name] = 0;
            removers.Add(hookable.register_forward_hook((m, _, output) =>
            {
                if (m.training && seen[name] < this.batches) Add(name, output);
                return null!;
            }).remove);
        }
    }

    /// <summary>Batches collected so far for <paramref name="layer"/>.</summary>
    public int BatchesSeen(string layer) => seen[layer];

    /// <summary>The activation applied to a layer's output, as NNI's _choose_activation picks it.</summary>
    public static Tensor Activate(string activation, Tensor output) => activation switch
    {
        "gelu" => nn.functional.gelu(output),
        "relu6" => nn.functional.relu6(output),
        _ => nn.functional.relu(output),
    };

    /// <summary>Each layer's metric, one value per output channel (the caller owns the tensors): APoZ's 1 − mean over a
    /// channel's positions of (zeros / samples), or mean rank's mean over them of (activation sum / samples).</summary>
    /// <exception cref="InvalidOperationException">A layer saw no training batch.</exception>
    public Dictionary<string, Tensor> Metrics()
    {
        var metrics = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var (layer, count) in samples)
        {
            if (count == 0 || !sums.TryGetValue(layer, out var sum))
                throw new InvalidOperationException($"'{layer}' saw no training batch: the task's training never ran it (is it on the forward path?)");
            using var scope = NewDisposeScope();
            var perChannel = (sum / count).reshape(sum.shape[0], -1).mean(new long[] { 1 });
            metrics[layer] = (kind == PrunerKind.Apoz ? 1 - perChannel : perChannel).MoveToOuterDisposeScope();
        }
        return metrics;
    }

    private void Add(string layer, Tensor output)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // get_output_batch_dims: dimension 0 of a conv's output; every dimension but the last of a Linear's.
        var rows = output.dim() > 2 && output.dim() != 4 ? output.detach().reshape(-1, output.shape[^1]) : output.detach();
        var activated = Activate(activation, rows);
        var term = kind == PrunerKind.Apoz ? activated.eq(0).to(rows.dtype).sum(new long[] { 0 }) : activated.sum(new long[] { 0 });
        if (sums.TryGetValue(layer, out var sum)) sum.add_(term);
        else sums[layer] = term.clone().DetachFromDisposeScope();
        samples[layer] += rows.shape[0];
        seen[layer]++;
    }

    /// <summary>Removes the hooks and frees the sums.</summary>
    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
        foreach (var sum in sums.Values) sum.Dispose();
        sums.Clear();
    }
}
