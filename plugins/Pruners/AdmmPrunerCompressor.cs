using System.Globalization;
using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
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
/// <remarks>Core's Trainer.Core.Pruning.Admm runs the same algorithm for `trainer search --Search:Method=autocompress` over
/// the core's channel groups; plugins see only the contract, so this compressor keeps its own short copy of the two ADMM
/// steps and projects with this plugin's config-list allocator. Both use the squared norm of the paper where NNI's code
/// adds ρ/2 · √‖W − Z + U‖.</remarks>
public sealed class AdmmPrunerCompressor : ICompressor
{
    private const string Key = PrunerSettings.ConfigListKey;

    /// <inheritdoc />
    public string Name => "admm";

    /// <inheritdoc />
    public void CheckSettings(IReadOnlyDictionary<string, string> settings) => Read(settings);

    private sealed record AdmmSettings(IReadOnlyList<ConfigEntry> ConfigList, PrunerKind Kind, int Iterations, int Epochs, double Rho);

    private AdmmSettings Read(IReadOnlyDictionary<string, string> settings)
    {
        var reader = new SettingsReader(settings);
        var json = reader.Text("config_list") ?? throw new ArgumentException(
            $"{Key} is required: NNI's config list as JSON, e.g. [{{\"op_types\": [\"Conv2d\"], \"sparsity_per_layer\": 0.5}}]", Key);
        var kind = reader.Choice("granularity", "fine-grained", "fine-grained", "coarse-grained") == "coarse-grained" ? PrunerKind.L1Norm : PrunerKind.Level;
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
        var modules = request.Model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var weights = targets.ToDictionary(t => t.Name, t => MaskPlanner.Weight(modules[t.Name], t.Name), StringComparer.Ordinal);
        var sparsity = targets.ToDictionary(t => t.Name, t => t.Sparsity, StringComparer.Ordinal);
        var z = weights.ToDictionary(w => w.Key, w => w.Value.detach().clone().DetachFromDisposeScope(), StringComparer.Ordinal);
        var u = weights.ToDictionary(w => w.Key, w => zeros_like(w.Value).DetachFromDisposeScope(), StringComparer.Ordinal);
        try
        {
            var hook = new AdmmPenalty(weights, z, u, s.Rho);
            for (int i = 0; i < s.Iterations; i++)
            {
                train(new TaskTraining { Epochs = s.Epochs, LossHooks = [hook] });
                double residual = Update(s.Kind, weights, z, u, sparsity);
                request.Logger.LogInformation("admm iteration {Iteration}: ‖W − Z‖ = {Residual:g4}", i, residual);
            }
        }
        finally
        {
            foreach (var t in z.Values.Concat(u.Values)) t.Dispose();
        }
        using var masks = MaskPlanner.Plan(request.Model, s.Kind, PruningMode.Normal, s.ConfigList, request.Editor, Key);
        var notes = s.Kind == PrunerKind.Level ? NniPrunerCompressor.ZeroWeights(request.Model, masks) : NniPrunerCompressor.Shrink(request.Editor, masks);
        var after = request.Editor.Cost;
        foreach (var note in notes) request.Logger.LogInformation("{Layer}: {Note}", note.Layer, note.Note);
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"admm ({(s.Kind == PrunerKind.Level ? "fine" : "coarse")}-grained, {s.Iterations} iterations, rho {s.Rho}): {targets.Count} layers selected; " +
            $"MACs {before.Macs} -> {after.Macs}, params {before.Params} -> {after.Params}.");
        request.Logger.LogInformation("{Summary}", summary);
        return new CompressionResult(request.Model, notes, summary);
    }

    /// <summary>Z = Π(W + U) by the config list's allocator, U = U + W − Z; returns ‖W − Z‖_F.</summary>
    internal static double Update(PrunerKind kind, IReadOnlyDictionary<string, Tensor> weights, Dictionary<string, Tensor> z,
        Dictionary<string, Tensor> u, IReadOnlyDictionary<string, double> sparsity)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var sum = weights.ToDictionary(w => w.Key, w => w.Value.detach() + u[w.Key], StringComparer.Ordinal);
        var metrics = sum.ToDictionary(kv => kv.Key, kv => Metrics.Of(kind, kv.Value), StringComparer.Ordinal);
        var masks = SparsityAllocators.Normal(metrics, sparsity);
        double residual = 0;
        foreach (var (layer, w) in weights)
        {
            var mask = masks[layer];
            // A channel mask has one entry per output channel: broadcast it over the channel's weights.
            if (mask.dim() == 1 && w.dim() > 1) mask = mask.reshape([mask.shape[0], .. Enumerable.Repeat(1L, (int)w.dim() - 1)]);
            var newZ = (sum[layer] * mask).DetachFromDisposeScope();
            var newU = (u[layer] + w.detach() - newZ).DetachFromDisposeScope();
            z[layer].Dispose();
            u[layer].Dispose();
            (z[layer], u[layer]) = (newZ, newU);
            residual += (w.detach() - newZ).pow(2).sum().to_type(ScalarType.Float64).item<double>();
        }
        return Math.Sqrt(residual);
    }

    /// <summary>ρ/2 · Σ‖W − Z + U‖²_F added to the loss as "admm_penalty"; reads Z and U as they are at each batch.</summary>
    private sealed class AdmmPenalty(IReadOnlyDictionary<string, Tensor> weights, Dictionary<string, Tensor> z, Dictionary<string, Tensor> u,
        double rho) : ILossHook
    {
        public string Name => "admm";

        public IReadOnlyDictionary<string, Tensor> Apply(LossHookInput input)
        {
            Tensor? penalty = null;
            foreach (var (layer, w) in weights)
            {
                var term = (w - z[layer] + u[layer]).pow(2).sum();
                penalty = penalty is null ? term : penalty + term;
            }
            penalty = (penalty ?? zeros(1).sum()) * (rho / 2);
            return new Dictionary<string, Tensor>(input.Losses)
            {
                ["admm_penalty"] = penalty,
                [LossNames.Total] = input.Losses[LossNames.Total] + penalty,
            };
        }
    }
}
