using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>
/// NNI v2.10's ActivationPruner data collector: a forward hook on each watched Conv2d/Linear applies the configured
/// activation to the layer's output (NNI hooks the layer itself, not the module after it, so a BatchNorm in between is
/// not seen) and sums over the batch dimension either the zero indicator (apoz) or the activation (mean-activation), with
/// the number of samples summed. It collects in training mode only, while the gate (if any) is open, over at most
/// <c>batches</c> forward calls of each layer. Dispose to remove the hooks and free the sums.
/// </summary>
public sealed class ActivationStatistics : IDisposable
{
    private readonly ImportanceCriterion _criterion;
    private readonly string _activation;
    private readonly int _batches;
    private readonly Func<bool>? _gate;
    private readonly List<string> _layers = [];
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _samples = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _seen = new(StringComparer.Ordinal);
    private readonly List<Action> _removers = [];

    /// <summary>Hooks <paramref name="layers"/>.</summary>
    /// <param name="layers">The Conv2d/Linear layers to watch, each with the name results are keyed by.</param>
    /// <param name="criterion"><see cref="ImportanceCriterion.Apoz"/> or <see cref="ImportanceCriterion.MeanActivation"/>.</param>
    /// <param name="activation">"relu", "gelu" or "relu6".</param>
    /// <param name="batches">Forward calls (training batches) collected per layer at most, until <see cref="Reset"/>.</param>
    /// <param name="gate">Collects only while this returns true (null: always).</param>
    public ActivationStatistics(IEnumerable<(string Name, nn.Module Module)> layers, ImportanceCriterion criterion, string activation, int batches,
        Func<bool>? gate = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (criterion is not (ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation))
            throw new ArgumentOutOfRangeException(nameof(criterion), criterion, "activation statistics are for apoz and mean-activation");
        if (!ImportanceCriteria.Activations.Contains(activation))
            throw new ArgumentException($"Unknown activation '{activation}'; accepted: {string.Join(", ", ImportanceCriteria.Activations)}.", nameof(activation));
        if (batches < 1) throw new ArgumentOutOfRangeException(nameof(batches), batches, "collect over at least 1 batch");
        (_criterion, _activation, _batches, _gate) = (criterion, activation, batches, gate);
        foreach (var (layer, module) in layers)
        {
            if (module is not nn.Module<Tensor, Tensor> hookable)
                throw new ArgumentException($"layer '{layer}' ({module.GetType().Name}) takes no single tensor; it cannot be hooked", nameof(layers));
            var name = layer;
            _layers.Add(name);
            _samples[name] = 0;
            _seen[name] = 0;
            _removers.Add(hookable.register_forward_hook((m, _, output) =>
            {
                if (m.training && _seen[name] < _batches && (_gate?.Invoke() ?? true)) Add(name, output);
                return null!;
            }).remove);
        }
    }

    /// <summary>Batches collected so far for <paramref name="layer"/> since the last <see cref="Reset"/>.</summary>
    public int BatchesSeen(string layer) => _seen[layer];

    /// <summary>The activation applied to a layer's output, as NNI's _choose_activation picks it.</summary>
    public static Tensor Activate(string activation, Tensor output) => activation switch
    {
        "gelu" => nn.functional.gelu(output),
        "relu6" => nn.functional.relu6(output),
        _ => nn.functional.relu(output),
    };

    /// <summary>Each layer's importance, one value per output channel (the caller owns the tensors): APoZ's 1 − mean over a
    /// channel's positions of (zeros / samples), or mean rank's mean over them of (activation sum / samples).</summary>
    /// <exception cref="InvalidOperationException">A layer saw no training batch.</exception>
    public Dictionary<string, Tensor> Metrics()
    {
        var metrics = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using var _ = no_grad();
        foreach (var layer in _layers)
        {
            var count = _samples[layer];
            if (count == 0 || !_sums.TryGetValue(layer, out var sum))
                throw new InvalidOperationException($"'{layer}' saw no training batch: the task's training never ran it (is it on the forward path?)");
            using var scope = NewDisposeScope();
            var perChannel = (sum / count).reshape(sum.shape[0], -1).mean([1]);
            metrics[layer] = (_criterion == ImportanceCriterion.Apoz ? 1 - perChannel : perChannel).MoveToOuterDisposeScope();
        }
        return metrics;
    }

    /// <summary>Forgets what was collected, so the next batches start new statistics.</summary>
    public void Reset()
    {
        foreach (var sum in _sums.Values) sum.Dispose();
        _sums.Clear();
        foreach (var layer in _layers) { _samples[layer] = 0; _seen[layer] = 0; }
    }

    /// <summary>The sums so far, for a checkpoint (exact float32 values).</summary>
    public JsonObject SaveState()
    {
        var state = new JsonObject();
        foreach (var layer in _layers)
            state[layer] = new JsonObject
            {
                ["samples"] = _samples[layer], ["seen"] = _seen[layer],
                ["sum"] = _sums.TryGetValue(layer, out var sum) ? TensorJson.Write(sum) : null,
            };
        return state;
    }

    /// <summary>Restores what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Reset();
        foreach (var layer in _layers)
        {
            if (state[layer] is not JsonObject entry) continue;
            _samples[layer] = entry["samples"]!.GetValue<long>();
            _seen[layer] = entry["seen"]!.GetValue<int>();
            if (entry["sum"] is JsonObject sum) _sums[layer] = TensorJson.Read(sum).DetachFromDisposeScope();
        }
    }

    private void Add(string layer, Tensor output)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // get_output_batch_dims: dimension 0 of a conv's output; every dimension but the last of a Linear's.
        var rows = output.dim() > 2 && output.dim() != 4 ? output.detach().reshape(-1, output.shape[^1]) : output.detach();
        var activated = Activate(_activation, rows);
        var term = _criterion == ImportanceCriterion.Apoz ? activated.eq(0).to(rows.dtype).sum([0]) : activated.sum([0]);
        if (_sums.TryGetValue(layer, out var sum)) sum.add_(term);
        else _sums[layer] = term.clone().DetachFromDisposeScope();
        _samples[layer] += rows.shape[0];
        _seen[layer]++;
    }

    /// <summary>Removes the hooks and frees the sums.</summary>
    public void Dispose()
    {
        foreach (var remove in _removers) remove();
        _removers.Clear();
        Reset();
    }
}
