using System.Text.Json.Nodes;
using Trainer.Abstractions;
using Trainer.Core.Pruning.Importance;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// The importance of a pruning callback's targets, for any criterion: read from the weights (l1-norm, l2-norm, fpgm), from
/// the BatchNorm after each target (slim, with its regulariser in the loss), or collected while <see cref="Open"/> is set
/// by the callback (apoz and mean-activation through forward hooks on the targets, taylor-fo before each optimizer step).
/// </summary>
internal sealed class ImportanceTracker : IDisposable
{
    private readonly ImportanceOptions _options;
    private readonly PruningTargets _targets;
    private readonly ActivationStatistics? _activations;
    private readonly TaylorStatistics? _taylor;
    private readonly Tensor[][]? _scales;
    private readonly string[] _keys;

    /// <summary>Hooks what the criterion needs.</summary>
    /// <param name="options">The criterion and its collector settings.</param>
    /// <param name="targets">The reparametrised targets.</param>
    /// <param name="scales">slim: what <see cref="FindScales"/> found (before the targets were reparametrised).</param>
    public ImportanceTracker(ImportanceOptions options, PruningTargets targets, Tensor[][]? scales)
    {
        _options = options;
        _targets = targets;
        _keys = Enumerable.Range(0, targets.Count).Select(i => $"{i}:{targets.Items[i].Module.GetName()}").ToArray();
        switch (options.Criterion)
        {
            case ImportanceCriterion.Slim:
                _scales = scales ?? throw new ArgumentNullException(nameof(scales), "slim needs the BatchNorm weights FindScales found");
                LossHooks = [new SlimRegularizer(_scales.SelectMany(s => s).ToList(), options.SlimLambda)];
                break;
            case ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation:
                _activations = new ActivationStatistics(Enumerable.Range(0, targets.Count).Select(i => (_keys[i], targets.Items[i].Module)),
                    options.Criterion, options.Activation, int.MaxValue, () => Open);
                break;
            case ImportanceCriterion.TaylorFo:
                _taylor = new TaylorStatistics(Enumerable.Range(0, targets.Count).ToDictionary(i => _keys[i], targets.Original));
                break;
        }
    }

    /// <summary>True for criteria collected over a window of batches before each pruning point.</summary>
    public bool Windowed => _activations is not null || _taylor is not null;

    /// <summary>Set by the callback while the coming batch is in a collection window.</summary>
    public bool Open { get; set; }

    /// <summary>slim's regulariser; empty for the other criteria.</summary>
    public IReadOnlyList<ILossHook> LossHooks { get; } = [];

    /// <summary>Batches (steps) collected since the last pruning.</summary>
    public int Collected => _taylor?.Steps ?? (_activations is { } a ? a.BatchesSeen(_keys[0]) : 0);

    /// <summary>Called before each optimizer step: taylor-fo adds (w·g)² inside a window.</summary>
    public void BeforeOptimizerStep()
    {
        if (Open) _taylor?.Add();
    }

    /// <summary>Each target's importance per output channel, in double precision; higher is kept first.</summary>
    /// <exception cref="InvalidOperationException">A data-driven criterion collected nothing since the last pruning.</exception>
    public double[][] ChannelScores(string owner)
    {
        if (Windowed && Collected == 0)
            throw new InvalidOperationException(
                $"{owner}: {ImportanceCriteria.NameOf(_options.Criterion)} prunes on statistics of the training batches before a pruning point, " +
                "and none ran since the previous one; start the schedule later (Start ≥ 1) or prune less often.");
        using var scope = NewDisposeScope();
        // Everything made here, the collected statistics included, is freed with the scope.
        var collected = _activations?.Metrics() ?? _taylor?.Metrics();
        return Enumerable.Range(0, _targets.Count).Select(i =>
        {
            var scores = _options.Criterion switch
            {
                ImportanceCriterion.Slim => _scales![i].Select(s => s.detach().abs()).Aggregate((a, b) => a.maximum(b)),
                _ when collected is not null => collected[_keys[i]],
                var c => WeightImportance.Of(c, _targets.Magnitudes(i)),
            };
            return scores.to_type(ScalarType.Float64).cpu().data<double>().ToArray();
        }).ToArray();
    }

    /// <summary>Starts new statistics (after a pruning).</summary>
    public void Reset()
    {
        _activations?.Reset();
        _taylor?.Reset();
    }

    /// <summary>The statistics collected so far (a window may span a checkpoint), or null when there are none.</summary>
    public JsonObject? SaveState() => _activations?.SaveState() ?? _taylor?.SaveState();

    /// <summary>Restores <see cref="SaveState"/>'s statistics.</summary>
    public void LoadState(JsonObject? state)
    {
        if (state is null) { Reset(); return; }
        _activations?.LoadState(state);
        _taylor?.LoadState(state);
    }

    /// <summary>Removes the hooks and frees the statistics.</summary>
    public void Dispose()
    {
        _activations?.Dispose();
        _taylor?.Dispose();
    }

    /// <summary>
    /// slim: the γ of the BatchNorm2d(s) that read each target's output directly, by which its channels are ranked; null for
    /// the other criteria. Called before the targets are reparametrised, so a refused target changes nothing.
    /// </summary>
    /// <exception cref="ArgumentException">No network or input shape to search, or a target no BatchNorm reads.</exception>
    public static Tensor[][]? FindScales(ImportanceOptions options, IReadOnlyList<(nn.Module Module, string Name)> targets)
    {
        if (options.Criterion != ImportanceCriterion.Slim) return null;
        if (options.Network is not { } network || options.InputShape is not { } shape)
            throw new ArgumentException("slim ranks each target's channels by the BatchNorm2d after it: give ImportanceOptions.Network and InputShape " +
                                        "so it can find them.", nameof(options));
        var producers = BatchNormProducers.Find(network, shape);
        var modules = network.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var paths = new Dictionary<nn.Module, string>(ReferenceEqualityComparer.Instance);
        foreach (var (name, module) in network.named_modules()) paths.TryAdd(module, name);
        return targets.Select(target =>
        {
            var path = paths.TryGetValue(target.Module, out var p) ? p
                : throw new ArgumentException($"A pruning target ({target.Module.GetName()}) is not in ImportanceOptions.Network.", nameof(options));
            var scales = producers.Where(kv => kv.Value == path).Select(kv => ((TorchSharp.Modules.BatchNorm2d)modules[kv.Key]).weight)
                .OfType<Tensor>().ToArray();
            return scales.Length > 0 ? scales : throw new ArgumentException(
                $"slim ranks '{path}' by |γ| of the BatchNorm2d that reads its output, and none does; leave it out (ExcludeOpNames) or use another pruner.",
                nameof(options));
        }).ToArray();
    }
}
