namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// One shard of a sensitivity analysis as a trial spec carries it: the layers whose sweeps it runs and the analysis' settings.
/// The baseline is measured once by whoever splits the analysis and handed to every shard (the early-stop modes Dropped and
/// Raised compare with it), so the shards' metrics put together are the unsharded analysis' exactly.
/// </summary>
/// <param name="Layers">The layers this shard sweeps (each pruned alone at each sparsity, in model order).</param>
/// <param name="Sparsities">The sweep's sparsities, ascending, rounded to 2 decimals (<see cref="SensitivityAnalysis.Sparsities"/>).</param>
/// <param name="Pruner">The pruner's name (<see cref="SensitivityPruners.Create"/>).</param>
/// <param name="EarlyStopMode">When a layer's sweep stops early.</param>
/// <param name="EarlyStopValue">Threshold of <paramref name="EarlyStopMode"/>, or null for <see cref="Sensitivity.EarlyStopMode.None"/>.</param>
/// <param name="Baseline">The unpruned model's metric.</param>
/// <param name="ValidationSamples">Validation samples each metric is taken on (0: all).</param>
public sealed record SensitivityShard(IReadOnlyList<string> Layers, IReadOnlyList<double> Sparsities, string Pruner, EarlyStopMode EarlyStopMode,
    double? EarlyStopValue, double Baseline, int ValidationSamples);

/// <summary>One metric of a sensitivity sweep: <paramref name="Layer"/> pruned alone at <paramref name="Sparsity"/>.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Sparsity">The sparsity.</param>
/// <param name="Metric">The task's score of the model with that layer pruned.</param>
public sealed record SensitivityPoint(string Layer, double Sparsity, double Metric);
