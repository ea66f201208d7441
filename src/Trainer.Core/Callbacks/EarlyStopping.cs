using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Training;

namespace Trainer.Core.Callbacks;

/// <summary>Early-stopping settings.</summary>
/// <param name="Monitor">Metric to watch, e.g. "val/accuracy".</param>
/// <param name="Mode">Whether smaller or larger is better.</param>
/// <param name="Patience">Validation checks without improvement before stopping.</param>
/// <param name="MinDelta">Smallest change that counts as an improvement.</param>
public sealed record EarlyStoppingOptions(string Monitor = "val/total_loss", MetricMode Mode = MetricMode.Min, int Patience = 3, double MinDelta = 0);

/// <summary>
/// Stops training when the monitored metric has not improved by more than MinDelta for Patience
/// validation checks (Lightning's EarlyStopping). Its counters are saved in checkpoints.
/// </summary>
public sealed class EarlyStopping(EarlyStoppingOptions options, ILogger? logger = null) : TrainerCallback
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private double? _best;
    private int _checksWithoutImprovement;

    /// <summary>Best value seen so far.</summary>
    public double? Best => _best;

    /// <inheritdoc />
    public override void OnValidationEnd(ITrainingContext context, IReadOnlyDictionary<string, double> metrics)
    {
        if (!context.Metrics.TryGetValue(options.Monitor, out var value))
            throw new InvalidOperationException(
                $"Early stopping monitors '{options.Monitor}' (Trainer:EarlyStopping:Monitor), which was not logged. " +
                $"Logged metrics: {string.Join(", ", context.Metrics.Keys.Order())}.");
        var improved = _best is not { } best || (options.Mode == MetricMode.Min
            ? value < best - options.MinDelta
            : value > best + options.MinDelta);
        if (improved)
        {
            _best = value;
            _checksWithoutImprovement = 0;
            return;
        }
        _checksWithoutImprovement++;
        _logger.LogInformation("Early stopping: {Monitor}={Value:g5} did not improve on {Best:g5} ({Count}/{Patience}).",
            options.Monitor, value, _best, _checksWithoutImprovement, options.Patience);
        if (_checksWithoutImprovement >= options.Patience)
            context.RequestStop($"early stopping: {options.Monitor} did not improve by more than {options.MinDelta} " +
                                $"for {options.Patience} validation checks (best {_best:g5})");
    }

    /// <inheritdoc />
    public override JsonObject SaveState() => new() { ["best"] = _best, ["checks_without_improvement"] = _checksWithoutImprovement };

    /// <inheritdoc />
    public override void LoadState(JsonObject state)
    {
        _best = state["best"]?.GetValue<double>();
        _checksWithoutImprovement = state["checks_without_improvement"]!.GetValue<int>();
    }
}
