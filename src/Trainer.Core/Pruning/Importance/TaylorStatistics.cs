using System.Text.Json.Nodes;
using Trainer.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Importance;

/// <summary>
/// NNI v2.10's TaylorFOWeightPruner statistics: (w·g)² of each watched weight added to that weight's sum at each
/// <see cref="Add"/> (NNI's tensor hook on the weight's gradient; here the gradient is read before the optimizer step,
/// after the loop's clipping when the loop clips). Dispose to free the sums.
/// </summary>
/// <param name="weights">The weights by the name results are keyed by (a reparametrised weight's <c>name_orig</c>: its
/// gradient is zero where the mask prunes).</param>
public sealed class TaylorStatistics(IReadOnlyDictionary<string, Tensor> weights) : IDisposable
{
    private readonly Dictionary<string, Tensor> _sums = new(StringComparer.Ordinal);

    /// <summary>Steps added since the last <see cref="Reset"/>.</summary>
    public int Steps { get; private set; }

    /// <summary>Adds (w·g)² of every weight that has a gradient now.</summary>
    public void Add()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (layer, weight) in weights)
        {
            if (weight.grad is not { } grad) continue;
            var term = (weight.detach() * grad.detach()).pow(2);
            if (_sums.TryGetValue(layer, out var sum)) sum.add_(term);
            else _sums[layer] = term.clone().DetachFromDisposeScope();
        }
        Steps++;
    }

    /// <summary>Each layer's importance (the caller owns the tensors): the L1 norm of each output channel's accumulated
    /// (w·g)² (NNI's HookDataNormMetricsCalculator with p = 1 over Scaling([1], 'back')).</summary>
    /// <exception cref="InvalidOperationException">A layer got no gradient in the steps collected.</exception>
    public Dictionary<string, Tensor> Metrics()
    {
        var metrics = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var layer in weights.Keys)
        {
            if (!_sums.TryGetValue(layer, out var sum))
                throw new InvalidOperationException($"'{layer}' got no gradient in {Steps} training step(s): is it on the loss's path?");
            using var scope = NewDisposeScope();
            metrics[layer] = linalg.vector_norm(sum.reshape(sum.shape[0], -1), 1, [-1]).MoveToOuterDisposeScope();
        }
        return metrics;
    }

    /// <summary>Forgets the sums.</summary>
    public void Reset()
    {
        foreach (var sum in _sums.Values) sum.Dispose();
        _sums.Clear();
        Steps = 0;
    }

    /// <summary>The sums so far, for a checkpoint (exact float32 values).</summary>
    public JsonObject SaveState()
    {
        var sums = new JsonObject();
        foreach (var (layer, sum) in _sums) sums[layer] = TensorJson.Write(sum);
        return new JsonObject { ["steps"] = Steps, ["sums"] = sums };
    }

    /// <summary>Restores what <see cref="SaveState"/> wrote.</summary>
    public void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        Reset();
        Steps = state["steps"]!.GetValue<int>();
        foreach (var (layer, node) in state["sums"]!.AsObject())
            if (weights.ContainsKey(layer)) _sums[layer] = TensorJson.Read(node!.AsObject()).DetachFromDisposeScope();
    }

    /// <summary>Frees the sums.</summary>
    public void Dispose() => Reset();
}

/// <summary>
/// NNI's TaylorFOWeightPruner collector as a training callback: before each of the first <c>steps</c> optimizer steps of
/// the training it joins, adds (w·g)² of the watched weights (<see cref="TaylorStatistics"/>). Dispose to free the sums.
/// </summary>
public sealed class TaylorCollector : TrainerCallback, IDisposable
{
    private readonly TaylorStatistics _statistics;
    private readonly int _steps;

    /// <summary>Watches <paramref name="weights"/> for <paramref name="steps"/> steps.</summary>
    public TaylorCollector(IReadOnlyDictionary<string, Tensor> weights, int steps)
    {
        _statistics = new TaylorStatistics(weights);
        _steps = steps;
    }

    /// <summary>Steps collected so far.</summary>
    public int StepsSeen => _statistics.Steps;

    /// <inheritdoc />
    public override void OnBeforeOptimizerStep(ITrainingContext context)
    {
        if (_statistics.Steps < _steps) _statistics.Add();
    }

    /// <summary>Each layer's importance; see <see cref="TaylorStatistics.Metrics"/>.</summary>
    public Dictionary<string, Tensor> Metrics() => _statistics.Metrics();

    /// <summary>Frees the sums.</summary>
    public void Dispose() => _statistics.Dispose();
}
