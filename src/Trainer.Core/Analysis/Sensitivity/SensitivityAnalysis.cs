using System.Collections.ObjectModel;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>
/// Measures how sensitive a model's validation metric is to pruning each layer on its own, as NNI's
/// SensitivityAnalysis does: the baseline metric is computed once, then for each layer and each sparsity
/// (ascending) only that layer's filters are pruned, the model is evaluated and the layer is restored.
/// A layer's sweep can stop early (see <see cref="EarlyStopMode"/>).
/// </summary>
/// <remarks>
/// The validation function must not change the model (evaluate in eval mode, under no_grad): only the
/// pruned layer's weight and bias are saved and put back. After <see cref="Analyze()"/> every parameter is
/// bit for bit what it was before, also when the validation function throws.
/// </remarks>
public sealed class SensitivityAnalysis
{
    private readonly nn.Module<Tensor, Tensor> _model;
    private readonly Func<nn.Module<Tensor, Tensor>, double> _validate;
    private readonly ILayerPruner _pruner;
    private readonly EarlyStopMode _earlyStopMode;
    private readonly double _earlyStopValue;
    private readonly IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Layer)> _targets;
    private readonly ILogger _logger;

    /// <summary>Creates the analysis; checks the settings and resolves the layers.</summary>
    /// <param name="model">The model; it is pruned temporarily and restored.</param>
    /// <param name="validate">Evaluates the model and returns the metric (accuracy, loss, ...).</param>
    /// <param name="pruner">Prunes a layer at each sparsity; <see cref="L1FilterPruner"/> by default (see
    /// <see cref="SensitivityPruners"/> for the others).</param>
    /// <param name="sparsities">
    /// Sparsities to test, each in (0, 1); default 0.1, 0.2, ..., 0.9. As in NNI they are sorted and
    /// rounded to 2 decimals (round half to even); two that round to the same value are an error.
    /// </param>
    /// <param name="earlyStopMode">When to stop a layer's sweep early.</param>
    /// <param name="earlyStopValue">Threshold of the early-stop mode; required unless the mode is None.</param>
    /// <param name="layers">
    /// Names of the layers to analyse (default: every Conv2d, plus every Linear with
    /// <paramref name="includeLinear"/>). Analysed in model order whatever the order given.
    /// </param>
    /// <param name="includeLinear">Treat Linear layers as prunable too (their output features are the filters).</param>
    /// <param name="logger">Receives one line per evaluation.</param>
    /// <exception cref="InvalidOperationException">The model has no prunable layer.</exception>
    /// <exception cref="ArgumentException">A sparsity, the early-stop settings or a layer name is invalid.</exception>
    public SensitivityAnalysis(
        nn.Module<Tensor, Tensor> model,
        Func<nn.Module<Tensor, Tensor>, double> validate,
        ILayerPruner? pruner = null,
        IEnumerable<double>? sparsities = null,
        EarlyStopMode earlyStopMode = EarlyStopMode.None,
        double? earlyStopValue = null,
        IEnumerable<string>? layers = null,
        bool includeLinear = false,
        ILogger? logger = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _validate = validate ?? throw new ArgumentNullException(nameof(validate));
        _pruner = pruner ?? new L1FilterPruner();
        _logger = logger ?? NullLogger.Instance;
        Sparsities = NormaliseSparsities(sparsities ?? DefaultSparsities);
        if (!Enum.IsDefined(earlyStopMode))
            throw new ArgumentOutOfRangeException(nameof(earlyStopMode), earlyStopMode, "Unknown early-stop mode.");
        if (earlyStopMode != EarlyStopMode.None && (earlyStopValue is null || !double.IsFinite(earlyStopValue.Value)))
            throw new ArgumentException(
                $"Early-stop mode {earlyStopMode} needs a finite early-stop value (got {earlyStopValue?.ToString() ?? "none"}).",
                nameof(earlyStopValue));
        _earlyStopMode = earlyStopMode;
        _earlyStopValue = earlyStopValue ?? 0;
        _targets = ResolveLayers(model, layers, includeLinear);
    }

    /// <summary>NNI's default sweep, <c>numpy.arange(0.1, 1.0, 0.1)</c> rounded to 2 decimals: 0.1, 0.2, ..., 0.9.</summary>
    public static IReadOnlyList<double> DefaultSparsities { get; } = Array.AsReadOnly(Enumerable.Range(1, 9).Select(i => i / 10.0).ToArray());

    /// <summary>The sparsities tested, ascending, rounded to 2 decimals.</summary>
    public IReadOnlyList<double> Sparsities { get; }

    /// <summary>Names of the layers that <see cref="Analyze()"/> sweeps, in model order.</summary>
    public IReadOnlyList<string> Layers => _targets.Select(t => t.Name).ToList();

    /// <summary>
    /// Names of the prunable layers of <paramref name="model"/> (Conv2d, and Linear when asked), in model
    /// order: depth first in registration order, as PyTorch's <c>named_modules()</c> lists them.
    /// </summary>
    public static IReadOnlyList<string> PrunableLayers(nn.Module<Tensor, Tensor> model, bool includeLinear = false) =>
        ModelLayers.Prunable(model, includeLinear).Select(p => p.Name).ToList();

    /// <summary>
    /// The part of <paramref name="layers"/> that shard <paramref name="shardIndex"/> of
    /// <paramref name="shardCount"/> analyses: every layer whose position modulo the shard count is the
    /// shard index (round robin, order kept). <see cref="SensitivityCsv.Merge"/> given the shards' CSV files
    /// in shard order interleaves them back into the unsharded order.
    /// </summary>
    public static IReadOnlyList<string> SelectShard(IReadOnlyList<string> layers, int shardIndex, int shardCount)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (shardCount < 1) throw new ArgumentOutOfRangeException(nameof(shardCount), shardCount, "The shard count must be at least 1.");
        if (shardIndex < 0 || shardIndex >= shardCount)
            throw new ArgumentOutOfRangeException(nameof(shardIndex), shardIndex, $"The shard index must be in [0, {shardCount}).");
        return layers.Where((_, i) => i % shardCount == shardIndex).ToList();
    }

    /// <summary>
    /// NNI's stop test, made after each evaluation: Minimize stops when <c>metric &lt; value</c>, Maximize when
    /// <c>metric &gt; value</c>, Dropped when <c>metric &lt; baseline - value</c>, Raised when <c>metric &gt; baseline + value</c>.
    /// </summary>
    public static bool ShouldStop(EarlyStopMode mode, double value, double baseline, double metric) => mode switch
    {
        EarlyStopMode.None => false,
        EarlyStopMode.Minimize => metric < value,
        EarlyStopMode.Maximize => metric > value,
        EarlyStopMode.Dropped => metric < baseline - value,
        EarlyStopMode.Raised => metric > baseline + value,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown early-stop mode."),
    };

    /// <summary>Runs the analysis (see the class remarks) and returns the metrics.</summary>
    public SensitivityResult Analyze() => Analyze(_validate(_model));

    /// <summary>Runs the analysis with the unpruned model's metric already measured (a shard of an analysis gets it from the
    /// analysis, which measured it once) and returns the metrics.</summary>
    public SensitivityResult Analyze(double baseline)
    {
        _logger.LogInformation("Sensitivity analysis: baseline metric {Baseline:0.0000}, {Layers} layers, {Count} sparsities.",
            baseline, _targets.Count, Sparsities.Count);
        var metrics = new OrderedDictionary<string, IReadOnlyDictionary<double, double>>();
        foreach (var (name, layer) in _targets)
        {
            var row = new OrderedDictionary<double, double>();
            using (var backup = new LayerWeightsBackup(layer))
            {
                foreach (var sparsity in Sparsities)
                {
                    double metric;
                    int pruned, total;
                    try
                    {
                        (pruned, total) = _pruner.PruneInPlace(layer, sparsity);
                        metric = _validate(_model);
                    }
                    finally
                    {
                        backup.Restore();
                    }
                    row[sparsity] = metric;
                    _logger.LogInformation("Layer: {Layer} Sparsity: {Sparsity:0.00} Pruned {Unit}: {Pruned}/{Total} Validation Metric: {Metric:0.0000}",
                        name, sparsity, _pruner.Unit, pruned, total, metric);
                    if (ShouldStop(_earlyStopMode, _earlyStopValue, baseline, metric))
                    {
                        _logger.LogInformation("Layer {Layer}: early stop ({Mode} {Value}) after sparsity {Sparsity:0.00}.",
                            name, _earlyStopMode, _earlyStopValue, sparsity);
                        break;
                    }
                }
            }
            metrics[name] = new ReadOnlyDictionary<double, double>(row);
        }
        return new SensitivityResult(baseline, Sparsities, new ReadOnlyDictionary<string, IReadOnlyDictionary<double, double>>(metrics));
    }

    private static IReadOnlyList<double> NormaliseSparsities(IEnumerable<double> sparsities)
    {
        var list = new List<double>();
        foreach (var s in sparsities.Order())
        {
            // numpy.round(x, 2): x * 100 rounded half to even, divided by 100.
            var rounded = Math.Round(s * 100, MidpointRounding.ToEven) / 100;
            if (!(rounded > 0 && rounded < 1))
                throw new ArgumentException($"Sparsity {s} (rounded to 2 decimals: {rounded}) is not strictly between 0 and 1.", nameof(sparsities));
            if (list.Count > 0 && list[^1] == rounded)
                throw new ArgumentException($"Sparsity {PythonFloat.Repr(rounded)} is given twice (after rounding to 2 decimals).", nameof(sparsities));
            list.Add(rounded);
        }
        if (list.Count == 0) throw new ArgumentException("At least one sparsity is needed.", nameof(sparsities));
        return list;
    }

    private static IReadOnlyList<(string, nn.Module<Tensor, Tensor>)> ResolveLayers(
        nn.Module<Tensor, Tensor> model, IEnumerable<string>? names, bool includeLinear)
    {
        var prunable = ModelLayers.Prunable(model, includeLinear);
        var kinds = includeLinear ? "Conv2d or Linear" : "Conv2d";
        if (prunable.Count == 0)
            throw new InvalidOperationException(
                $"The model {model.GetType().Name} has no prunable layer ({kinds}), so there is nothing to analyse." +
                (includeLinear ? "" : " Pass includeLinear: true to analyse Linear layers."));
        if (names is null) return prunable;

        var wanted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            if (prunable.Any(p => p.Name == name)) { wanted.Add(name); continue; }
            var module = ModelLayers.Named(model).FirstOrDefault(m => m.Name == name).Module;
            if (module is not null)
                throw new ArgumentException(
                    $"Layer '{name}' is a {module.GetType().Name}, not a prunable layer ({kinds})." +
                    (!includeLinear && module is TorchSharp.Modules.Linear ? " Pass includeLinear: true to analyse Linear layers." : ""),
                    "layers");
            var closest = Models.NameSuggestions.Closest(name, prunable.Select(p => p.Name));
            throw new ArgumentException(
                $"Unknown layer '{name}'. Closest prunable layers: {string.Join(", ", closest)}.", "layers");
        }
        return prunable.Where(p => wanted.Contains(p.Name)).ToList();
    }
}
