using Microsoft.Extensions.Logging;
using TorchSharp;
using Trainer.Abstractions.Compression;

[assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)]

namespace Plugins.LowRank;

/// <summary>
/// Low-rank decomposition (as AMC's LowRankDecomposition, after Zhang et al. 2016): each selected Conv2d k×k Cin→Cout
/// becomes conv k×k Cin→r followed by conv 1×1 r→Cout (bias on the second), each Linear two Linears, with ranks
/// chosen so the selected layers keep at most <see cref="CompressionRequest.TargetFlopsRatio"/> of their MACs (or, with
/// target_of=model, so the whole model does).
/// The factors come from the truncated SVD of the weight, or with nonlinear_case=true from sampled data so the
/// post-ReLU responses are reproduced (asymmetric=true: the linear responses, by reduced-rank regression).
/// </summary>
/// <remarks>
/// Settings (Compression:Settings:&lt;key&gt;): nonlinear_case, asymmetric, include_linear (bool; default false);
/// ranks ("layer=rank,..."); rank_selection (energy|uniform: by the weights' spectral energy, Zhang et al.'s choice, or
/// one MACs fraction per layer); layers / exclude (layer paths, <see cref="LayerSelector"/> semantics); trainset_ratio,
/// sampled_pixels_per_img, max_samples, seed (sampling); iterations (nonlinear fit); target_of (selected|model: what the
/// FLOPs target is a fraction of). Everything is checked before
/// the first edit: on bad input the model is untouched. The nonlinear case assumes a ReLU follows the layer directly
/// (as in VGG); with a BatchNorm in between it fits the pre-BatchNorm responses' positive part. A layer producing the
/// model output (no Conv2d/Linear reads its channels) gets the linear fit instead.
/// </remarks>
public sealed class LowRankCompressor : ICompressor
{
    /// <inheritdoc />
    public string Name => "low-rank";

    /// <inheritdoc />
    public void CheckSettings(IReadOnlyDictionary<string, string> settings) => LowRankSettings.Read(settings, Name);

    /// <inheritdoc />
    public CompressionResult Compress(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var target = request.TargetFlopsRatio;
        if (!(target > 0 && target <= 1))
            throw new ArgumentException($"{Name}: TargetFlopsRatio is {target}, but it must be in (0, 1] (the fraction of MACs to keep)");
        var settings = LowRankSettings.Read(request.Settings, Name);
        var editor = request.Editor;
        var selection = LayerSelection.Resolve(editor.Layers, settings);
        if (settings.Method != FitMethod.Svd && request.TrainingData is null)
            throw new ArgumentException(
                $"{Name}: {(settings.Method == FitMethod.Nonlinear ? "nonlinear_case" : "asymmetric")}=true fits the layers to sampled " +
                "training data, but the request has none; give the compression step training data or drop the setting");

        var modelBefore = editor.Cost;
        var fixedMacs = settings.TargetCoversModel ? modelBefore.Macs - selection.Layers.Sum(l => l.Macs) : 0;
        var plan = RankPlanner.Plan(selection.Layers, settings.ExplicitRanks, target, fixedMacs,
            settings.RanksByEnergy ? SpectralEnergies(request.Model, selection.Layers) : null);
        // Layers whose channels no weight layer reads (whole or by slice) are, in a classifier, the ones producing the logits: no ReLU follows.
        var outputLayers = editor.ChannelGroups.Where(g => g.Consumers.Count == 0 && g.SliceConsumers.Count == 0).SelectMany(g => g.Producers)
            .ToHashSet(StringComparer.Ordinal);
        // Sampling can still fail on the data (too few batches for trainset_ratio): sample the first layer to factorize
        // before any edit, so such a failure leaves the model untouched. Later layers are sampled after the edits before
        // them (the asymmetric fit needs their inputs from the edited model).
        var presampled = settings.Method != FitMethod.Svd && plan.Choices.FirstOrDefault(c => c.Rank is not null) is { } first
            ? (first.Layer.Name, Samples: editor.Sample(first.Layer.Name, settings.Sampling))
            : default;
        var notes = new List<LayerNote>(selection.Notes);
        foreach (var choice in plan.Choices)
        {
            var layer = choice.Layer;
            if (choice.Rank is not int rank)
            {
                notes.Add(new LayerNote(layer.Name, $"{layer.Type}: {choice.SkipReason}; MACs {layer.Macs}"));
                continue;
            }
            var method = settings.Method == FitMethod.Nonlinear && outputLayers.Contains(layer.Name) ? FitMethod.Regression : settings.Method;
            var samples = presampled.Name == layer.Name ? presampled.Samples : null;
            var fit = Factorize(request, settings, method, layer, rank, samples);
            if (method != settings.Method) fit += " (output layer, no ReLU follows: linear fit)";
            var warning = layer.SavesAt(rank) ? "" : " (the given rank costs more MACs than the layer)";
            notes.Add(new LayerNote(layer.Name,
                $"{layer.Type}: rank {rank} of {layer.FullRank}{(choice.Explicit ? " (from ranks)" : "")}; MACs {layer.Macs} -> " +
                $"{layer.MacsAt(rank)}{warning}; {fit}"));
            request.Logger.LogInformation("{Compressor}: {Layer} rank {Rank}/{Full}, MACs {Before} -> {After}, {Fit}",
                Name, layer.Name, rank, layer.FullRank, layer.Macs, layer.MacsAt(rank), fit);
        }

        var modelAfter = editor.Cost;
        var factorized = plan.Choices.Count(c => c.Rank is not null);
        var aimed = $"(ratio {plan.Ratio:F3}, target {target:F3}{(plan.TargetMet ? "" : ", not reachable: even rank 1 costs more")})";
        var summary =
            $"Factorized {factorized} of {plan.Choices.Count} selected layers ({settings.Method.ToString().ToLowerInvariant()} fit); " +
            (settings.TargetCoversModel ? "" : $"selected layers' MACs {plan.MacsBefore} -> {plan.MacsAfter} {aimed}; ") +
            $"model MACs {modelBefore.Macs} -> {modelAfter.Macs}{(settings.TargetCoversModel ? " " + aimed : "")}, " +
            $"params {modelBefore.Params} -> {modelAfter.Params}.";
        request.Logger.LogInformation("{Compressor}: {Summary}", Name, summary);
        notes.Sort((a, b) => selection.Order(a.Layer).CompareTo(selection.Order(b.Layer)));
        return new CompressionResult(request.Model, notes, summary);
    }

    /// <summary>Squared singular values of each layer's weight as a Cout × (Cin·k·k) matrix, descending (double precision).</summary>
    private static Dictionary<string, double[]> SpectralEnergies(torch.nn.Module<torch.Tensor, torch.Tensor> model, IEnumerable<FactorizableLayer> layers)
    {
        var energies = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var layer in layers)
        {
            using var scope = torch.NewDisposeScope();
            var (weight, bias) = FactorWriter.ReadWeights(model, layer.Name);
            using var weightOwner = weight;
            using var biasOwner = bias;
            var sigma = torch.linalg.svdvals(weight.reshape(layer.Rows, layer.Columns).to_type(torch.ScalarType.Float64));
            energies[layer.Name] = (sigma * sigma).data<double>().ToArray();
        }
        return energies;
    }

    /// <summary>Fits the factors (on <paramref name="samples"/>, or on samples taken now when null and the method needs
    /// data), replaces the layer through the editor and fills the two new layers; returns the fit's error in words.
    /// Disposes <paramref name="samples"/>.</summary>
    private static string Factorize(CompressionRequest request, LowRankSettings settings, FitMethod method, FactorizableLayer layer,
        int rank, LayerSamples? samples)
    {
        using var given = samples;
        using var scope = torch.NewDisposeScope();
        var (weight, bias) = FactorWriter.ReadWeights(request.Model, layer.Name);
        using var weightOwner = weight;
        using var biasOwner = bias;
        LowRankFactors factors;
        if (method == FitMethod.Svd) factors = SvdFactorizer.Factorize(weight, bias, rank);
        else
        {
            using var taken = samples is null ? request.Editor.Sample(layer.Name, settings.Sampling) : null;
            var data = samples ?? taken!;
            factors = method == FitMethod.Nonlinear
                ? ResponseFitter.FitNonlinear(weight, bias, data, rank, settings.Iterations)
                : ResponseFitter.FitLinear(weight, bias, data, rank);
        }
        using (factors)
        {
            FactorWriter.Write(request.Editor.Factorize(layer.Name, rank), factors);
            return factors.Error;
        }
    }
}
