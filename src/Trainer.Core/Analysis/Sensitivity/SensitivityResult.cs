namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// The outcome of a sensitivity analysis: the metric of the unpruned model and, per layer, the metric
/// with only that layer pruned at each sparsity.
/// </summary>
/// <param name="Baseline">
/// Metric of the unpruned model. <see cref="double.NaN"/> when the result was read from a CSV file,
/// because NNI's CSV format does not store it.
/// </param>
/// <param name="Sparsities">The sparsities of the sweep, ascending (the CSV header).</param>
/// <param name="Metrics">
/// Layer name → sparsity → metric, layers in model order and sparsities ascending. A layer whose sweep
/// stopped early lacks the sparsities after the stop.
/// </param>
public sealed record SensitivityResult(
    double Baseline,
    IReadOnlyList<double> Sparsities,
    IReadOnlyDictionary<string, IReadOnlyDictionary<double, double>> Metrics);
