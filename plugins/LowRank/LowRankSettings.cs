using System.Globalization;
using Trainer.Abstractions.Compression;

namespace Plugins.LowRank;

/// <summary>How weights are fitted to the chosen rank.</summary>
public enum FitMethod
{
    /// <summary>Truncated SVD of the weight (no data): the Frobenius-optimal weight approximation.</summary>
    Svd,

    /// <summary>Reduced-rank regression of the reference responses on the current layer's responses (sampled data,
    /// linear case, "asymmetric" when earlier layers were already factorized).</summary>
    Regression,

    /// <summary>Zhang et al.'s nonlinear solution: reproduce the post-ReLU responses (sampled data).</summary>
    Nonlinear,
}

/// <summary>
/// The low-rank compressor's settings, read from <see cref="CompressionRequest.Settings"/> with one clear error per
/// bad value. Keys: nonlinear_case, asymmetric, ranks, layers, exclude, include_linear, trainset_ratio,
/// sampled_pixels_per_img, max_samples, iterations, seed, target_of, rank_selection.
/// </summary>
/// <param name="Method">How factors are fitted (nonlinear_case=true → Nonlinear; asymmetric=true → Regression).</param>
/// <param name="ExplicitRanks">Layer → rank given by the "ranks" setting; these layers are factorized at that rank.</param>
/// <param name="Selector">Which layers the FLOPs target may factorize ("layers", "exclude").</param>
/// <param name="IncludeLinear">Whether Linear layers may be selected (conv MACs dominate CNNs; default false).</param>
/// <param name="Sampling">How the editor samples layers for the data-driven fits.</param>
/// <param name="Iterations">Alternating iterations of the nonlinear fit.</param>
/// <param name="TargetCoversModel">True when the FLOPs target is a fraction of the whole model's MACs ("target_of=model"),
/// false when it is a fraction of the selected layers' MACs ("target_of=selected", the default).</param>
/// <param name="RanksByEnergy">True ("rank_selection=energy", the default) to choose ranks by the weights' spectral
/// energy (Zhang et al.); false ("uniform") for one MACs fraction for every layer.</param>
public sealed record LowRankSettings(
    FitMethod Method,
    IReadOnlyDictionary<string, int> ExplicitRanks,
    LayerSelector Selector,
    bool IncludeLinear,
    SamplingOptions Sampling,
    int Iterations,
    bool TargetCoversModel,
    bool RanksByEnergy = true)
{
    /// <summary>Alternating iterations of the nonlinear fit when "iterations" is absent (Zhang et al. use 25).</summary>
    public const int DefaultIterations = 25;

    /// <summary>Reads and checks every setting; throws <see cref="ArgumentException"/> naming the key on a bad or unknown one.</summary>
    public static LowRankSettings Read(IReadOnlyDictionary<string, string> settings, string compressorName)
    {
        var reader = new SettingsReader(settings);
        var nonlinear = reader.Bool("nonlinear_case", false);
        var asymmetric = reader.Bool("asymmetric", false);
        var ranks = ReadRanks(reader, "ranks");
        var selector = new LayerSelector(reader.List("layers"), [], reader.List("exclude"));
        var includeLinear = reader.Bool("include_linear", false);
        var sampling = new SamplingOptions(
            TrainsetRatio: reader.Double("trainset_ratio", 0.05, 0, 1, minExclusive: true),
            PixelsPerImage: reader.Int("sampled_pixels_per_img", 10, 1, 100_000),
            Seed: reader.Int("seed", 0),
            MaxRows: reader.Int("max_samples", 0, 0));
        var iterations = reader.Int("iterations", DefaultIterations, 1, 10_000);
        var targetOf = reader.Choice("target_of", "selected", "selected", "model");
        var rankSelection = reader.Choice("rank_selection", "energy", "energy", "uniform");
        reader.ThrowOnUnknown(compressorName);

        var method = nonlinear ? FitMethod.Nonlinear : asymmetric ? FitMethod.Regression : FitMethod.Svd;
        return new LowRankSettings(method, ranks, selector, includeLinear, sampling, iterations, targetOf == "model", rankSelection == "energy");
    }

    /// <summary>"layer=rank,layer=rank" with whole ranks of at least 1 (the upper bound needs the model; see the planner).</summary>
    private static Dictionary<string, int> ReadRanks(SettingsReader reader, string key)
    {
        var ranks = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var pair in reader.List(key))
        {
            var parts = pair.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0
                || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var rank))
                throw new ArgumentException(
                    $"Compression:Settings:{key} has '{pair}', but it must be layer=rank pairs separated by commas (e.g. conv2=8,conv3=16)");
            if (!ranks.TryAdd(parts[0], rank))
                throw new ArgumentException($"Compression:Settings:{key} gives layer '{parts[0]}' twice; give one rank per layer");
        }
        return ranks;
    }
}
