using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Pruning.Admm;
using Trainer.Core.Pruning.Importance;
using static TorchSharp.torch;

namespace Plugins.Pruners;

/// <summary>
/// NNI v2.10's ADMMPruner as a compressor: Z = W, U = 0; each of "iterations" rounds trains the model through the task
/// (<see cref="CompressionRequest.Train"/>, "training_epochs" epochs) with ρ/2 · Σ‖W − Z + U‖² added to the loss, then sets
/// Z = Π(W + U), the config list's masks of W + U, and U = U + W − Z; the final masks come from the final weights, as NNI's.
/// "granularity" fine-grained prunes single weights (level's metric, zeroed for good), coarse-grained output channels
/// (L1 norm, shrunk by the core). Settings: config_list (sparsity_per_layer per Conv2d/Linear), granularity, iterations
/// (10), training_epochs (1), rho (1e-4, NNI's default per config).
/// </summary>
/// <remarks>The ADMM steps are Core's (<see cref="AdmmState"/>, <see cref="AdmmLossHook"/>, which `trainer search
/// --Search:Method=autocompress` runs over the core's channel groups); this compressor projects with the config list's
/// allocator. The penalty is the paper's squared norm where NNI's code adds ρ/2 · √‖W − Z + U‖.</remarks>
public sealed class AdmmPrunerCompressor : ICompressor
{
    private const string Key = PrunerSettings.ConfigListKey;

    /// <inheritdoc />
    public string Name => "admm";

    /// <inheritdoc />
    public void CheckSettings(IReadOnlyDictionary<string, string> settings) => Read(settings);

    private sealed record AdmmSettings(IReadOnlyList<ConfigEntry> ConfigList, ImportanceCriterion Kind, int Iterations, int Epochs, double Rho);

    private AdmmSettings Read(IReadOnlyDictionary<string, string> settings)
    {
        var reader = new SettingsReader(settings);
        var json = reader.Text("config_list") ?? throw new ArgumentException(
            $"{Key} is required: NNI's config list as JSON, e.g. [{{\"op_types\": [\"Conv2d\"], \"sparsity_per_layer\": 0.5}}]", Key);
        var kind = reader.Choice("granularity", "fine-grained", "fine-grained", "coarse-grained") == "coarse-grained" ? ImportanceCriterion.L1Norm : ImportanceCriterion.Level;
        var result = new AdmmSettings([], kind, reader.Int("iterations", 10, 1, 10_000), reader.Int("training_epochs", 1, 1, 1000),
            reader.Double("rho", 1e-4, 0, double.MaxValue, minExclusive: true));
        reader.ThrowOnUnknown(Name);
        var entries = ConfigList.Parse(json, Key);
        ConfigResolver.CheckOpTypes(entries, PrunerSettings.TypesOf(kind), Key);
        return result with { ConfigList = entries };
    }

    /// <inheritdoc />
    public CompressionResult Compress(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var s = Read(request.Settings);
        var train = request.Train ?? throw new InvalidOperationException(
            "admm trains the model through the task (CompressionRequest.Train), and this caller gives no training");
        var before = request.Editor.Cost;
        var targets = MaskPlanner.Targets(request.Model, s.Kind, PruningMode.Normal, s.ConfigList, Key);
        // Z = W, U = 0; each iteration trains with the penalty, then Z = Π(W + U) by the config list, U += W − Z.
        using (var state = new AdmmState(request.Model, [new ConfigListTarget(s.Kind, targets.ToDictionary(t => t.Name, t => t.Sparsity, StringComparer.Ordinal))], s.Rho))
        {
            var hook = new AdmmLossHook(state);
            for (int i = 0; i < s.Iterations; i++)
            {
                train(new TaskTraining { Epochs = s.Epochs, LossHooks = [hook] });
                request.Logger.LogInformation("admm iteration {Iteration}: ‖W − Z‖ = {Residual:g4}", i, state.Update(request.Model));
            }
        }
        // The final masks come from the final weights, as NNI's.
        using var masks = MaskPlanner.Plan(request.Model, s.Kind, PruningMode.Normal, s.ConfigList, request.Editor, Key);
        var notes = s.Kind == ImportanceCriterion.Level ? NniPrunerCompressor.ZeroWeights(request.Model, masks) : NniPrunerCompressor.Shrink(request.Editor, masks);
        var after = request.Editor.Cost;
        foreach (var note in notes) request.Logger.LogInformation("{Layer}: {Note}", note.Layer, note.Note);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"admm ({(s.Kind == ImportanceCriterion.Level ? "fine" : "coarse")}-grained, {s.Iterations} iterations, rho {s.Rho}): {targets.Count} layers selected; " +
            $"MACs {before.Macs} -> {after.Macs}, params {before.Params} -> {after.Params}.");
        request.Logger.LogInformation("{Summary}", summary);
        return new CompressionResult(request.Model, notes, summary);
    }

    /// <summary>The config list's projection: each layer keeps n − int(n·s) of its weights (level) or output channels (L1
    /// norm) by the metric of W + U, as NNI's NormalSparsityAllocator; a channel mask is spread over the channel's weights.</summary>
    private sealed class ConfigListTarget(ImportanceCriterion kind, IReadOnlyDictionary<string, double> sparsity) : IAdmmTarget
    {
        public IReadOnlyList<string> Layers { get; } = sparsity.Keys.ToList();

        public IReadOnlyDictionary<string, Tensor> Masks(IReadOnlyDictionary<string, Tensor> weights)
        {
            var metrics = Layers.ToDictionary(l => l, l => WeightImportance.Of(kind, weights[l]), StringComparer.Ordinal);
            var masks = SparsityAllocators.Normal(metrics, sparsity);
            foreach (var metric in metrics.Values) metric.Dispose();
            return masks.ToDictionary(m => m.Key, m =>
            {
                var w = weights[m.Key];
                return m.Value.dim() == w.dim() ? m.Value
                    : m.Value.reshape([m.Value.shape[0], .. Enumerable.Repeat(1L, (int)w.dim() - 1)]).expand_as(w).to_type(w.dtype);
            }, StringComparer.Ordinal);
        }
    }
}
