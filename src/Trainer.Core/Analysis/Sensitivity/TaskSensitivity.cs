using System.Collections.ObjectModel;
using Microsoft.Extensions.Logging;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// NNI's sensitivity analysis scored by a task: the model is checked against the task's example input first, then each
/// layer is pruned alone at each sparsity and scored by the task on its fixed validation subset (<see cref="TrainingTask.ScoreLoader"/>).
/// </summary>
public static class TaskSensitivity
{
    /// <summary>Analyses <paramref name="model"/> (named <paramref name="modelName"/>, set up for <paramref name="inputShape"/>)
    /// for <paramref name="task"/>; the other parameters are <see cref="SensitivityAnalysis"/>'s.</summary>
    /// <param name="task">Scores each pruned model; its score's direction decides whether "dropped" or "raised" is worse.</param>
    /// <param name="model">The model; pruned temporarily and restored bit for bit.</param>
    /// <param name="modelName">The model's name for messages.</param>
    /// <param name="inputShape">The input shape the model is set up for.</param>
    /// <param name="validationSamples">Validation samples each score is taken on; 0 = all.</param>
    /// <param name="sparsities">Sparsities to test (default 0.1 … 0.9).</param>
    /// <param name="earlyStopMode">When to stop a layer's sweep early.</param>
    /// <param name="earlyStopValue">Threshold of the early-stop mode.</param>
    /// <param name="layers">Layers to analyse (default: every Conv2d).</param>
    /// <param name="logger">Receives one line per evaluation.</param>
    /// <param name="pruner">Prunes each layer (default L1 filters; <see cref="SensitivityPruners"/> names the others).</param>
    /// <exception cref="ArgumentException">The model does not take the task's input, or a setting is invalid.</exception>
    public static SensitivityResult Analyze(TrainingTask task, nn.Module<Tensor, Tensor> model, string modelName, long[] inputShape,
        int validationSamples = 0, IEnumerable<double>? sparsities = null, EarlyStopMode earlyStopMode = EarlyStopMode.None,
        double? earlyStopValue = null, IEnumerable<string>? layers = null, ILogger? logger = null, ILayerPruner? pruner = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ExampleInputCheck.Ensure(model, modelName, inputShape, task);
        var scoreLoader = ScoreLoader(task, validationSamples);
        using var lease = scoreLoader as IDisposable;
        return AnalysisOf(task, model, scoreLoader, pruner, sparsities, earlyStopMode, earlyStopValue, layers, logger).Analyze();
    }

    /// <summary>The analysis <see cref="Analyze"/> would run, split into one shard per layer (model order) to run as trials: the
    /// settings checked and resolved as the analysis resolves them, the baseline measured once here. The parameters are
    /// <see cref="Analyze"/>'s but the pruner, given by name (<see cref="SensitivityPruners.Create"/>).</summary>
    /// <exception cref="ArgumentException">The model does not take the task's input, or a setting is invalid.</exception>
    public static IReadOnlyList<SensitivityShard> Shards(TrainingTask task, nn.Module<Tensor, Tensor> model, string modelName, long[] inputShape,
        int validationSamples = 0, IEnumerable<double>? sparsities = null, EarlyStopMode earlyStopMode = EarlyStopMode.None,
        double? earlyStopValue = null, IEnumerable<string>? layers = null, string pruner = "l1", ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ExampleInputCheck.Ensure(model, modelName, inputShape, task);
        var scoreLoader = ScoreLoader(task, validationSamples);
        using var lease = scoreLoader as IDisposable;
        var analysis = AnalysisOf(task, model, scoreLoader, SensitivityPruners.Create(pruner), sparsities, earlyStopMode, earlyStopValue, layers, logger);
        double baseline = task.ScoreOf(model, scoreLoader);
        logger?.LogInformation("Sensitivity analysis as trials: baseline metric {Baseline:0.0000}, {Layers} layer shards, {Count} sparsities.",
            baseline, analysis.Layers.Count, analysis.Sparsities.Count);
        return analysis.Layers.Select(layer => new SensitivityShard([layer], analysis.Sparsities, pruner, earlyStopMode,
            earlyStopMode == EarlyStopMode.None ? null : earlyStopValue, baseline, validationSamples)).ToList();
    }

    /// <summary>Runs <paramref name="shard"/>'s sweeps on <paramref name="model"/> with the shard's baseline: its metrics are
    /// those the unsharded analysis measures for these layers.</summary>
    public static IReadOnlyList<SensitivityPoint> AnalyzeShard(TrainingTask task, nn.Module<Tensor, Tensor> model, SensitivityShard shard, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(shard);
        var scoreLoader = ScoreLoader(task, shard.ValidationSamples);
        using var lease = scoreLoader as IDisposable;
        var result = AnalysisOf(task, model, scoreLoader, SensitivityPruners.Create(shard.Pruner), shard.Sparsities, shard.EarlyStopMode,
            shard.EarlyStopValue, shard.Layers, logger).Analyze(shard.Baseline);
        return result.Metrics.SelectMany(layer => layer.Value.Select(m => new SensitivityPoint(layer.Key, m.Key, m.Value))).ToList();
    }

    /// <summary>The analysis' result from its shards' metrics, in shard order (each layer's sparsities ascending).</summary>
    public static SensitivityResult Assemble(double baseline, IReadOnlyList<double> sparsities, IEnumerable<SensitivityPoint> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        var metrics = new OrderedDictionary<string, IReadOnlyDictionary<double, double>>();
        foreach (var layer in points.GroupBy(p => p.Layer))
            metrics[layer.Key] = new ReadOnlyDictionary<double, double>(new OrderedDictionary<double, double>(layer.Select(p => KeyValuePair.Create(p.Sparsity, p.Metric))));
        return new SensitivityResult(baseline, sparsities, new ReadOnlyDictionary<string, IReadOnlyDictionary<double, double>>(metrics));
    }

    /// <summary>The analysis of <paramref name="model"/> scored by <paramref name="task"/> on <paramref name="scoreLoader"/>:
    /// one construction, so the whole analysis, its shards and each shard's run measure alike.</summary>
    private static SensitivityAnalysis AnalysisOf(TrainingTask task, nn.Module<Tensor, Tensor> model, Abstractions.IBatchLoader scoreLoader,
        ILayerPruner? pruner, IEnumerable<double>? sparsities, EarlyStopMode earlyStopMode, double? earlyStopValue, IEnumerable<string>? layers,
        ILogger? logger) =>
        new(model, net => task.ScoreOf(net, scoreLoader), pruner, sparsities, earlyStopMode, earlyStopValue, layers, logger: logger);

    private static Abstractions.IBatchLoader ScoreLoader(TrainingTask task, int validationSamples) =>
        task.ScoreLoader(validationSamples > 0 ? validationSamples : int.MaxValue, 500);
}
