using Trainer.Abstractions.Compression;

namespace Plugins.ChannelPruning;

/// <summary>How channels are chosen.</summary>
public enum SelectionMethod
{
    /// <summary>LASSO on the consumers' sampled responses, then least-squares reconstruction (He et al. 2017).</summary>
    Lasso,

    /// <summary>Largest L1 norm of the producers' filters; no reconstruction (the usual baseline).</summary>
    L1,
}

/// <summary>
/// Settings of <see cref="ChannelPruningCompressor"/> (keys under Compression:Settings, case-insensitive):
/// <list type="bullet">
/// <item>method: lasso (default) or l1.</item>
/// <item>trainset_ratio: fraction of the training batches sampled, in (0, 1]; 0.05.</item>
/// <item>sampled_pixels_per_img: output positions sampled per image, ≥ 1; 10.</item>
/// <item>lars_alpha_init: first LASSO penalty tried, &gt; 0 (relative to the target's energy); 1e-4.</item>
/// <item>seed: seed of the position sampling; 0.</item>
/// <item>reconstruct: refit the consumers' kept weights by least squares (lasso only); true.</item>
/// <item>max_rows: upper bound on sampled rows per layer (0: none); 0.</item>
/// <item>ratios: "group=keepRatio,..." keep ratios in (0, 1) by group id or producer name.</item>
/// <item>skip_layers: group ids or producer names left unpruned.</item>
/// <item>accuracy_first + accuracy_threshold: keep more channels of a group whose pruning leaves the task's validation score
/// worse than the threshold (in the score's units and direction: at least it for accuracy, at most it for an error).</item>
/// </list>
/// </summary>
public sealed record ChannelPruningSettings
{
    /// <summary>How channels are chosen.</summary>
    public SelectionMethod Method { get; init; } = SelectionMethod.Lasso;

    /// <summary>Sampling of the consumers.</summary>
    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>First LASSO penalty tried.</summary>
    public double LarsAlphaInit { get; init; } = 1e-4;

    /// <summary>Refit the consumers' kept weights by least squares.</summary>
    public bool Reconstruct { get; init; } = true;

    /// <summary>Keep ratio by group id or producer name, from the "ratios" setting.</summary>
    public IReadOnlyDictionary<string, double> Ratios { get; init; } = new Dictionary<string, double>();

    /// <summary>Group ids or producer names left alone.</summary>
    public IReadOnlyList<string> SkipLayers { get; init; } = [];

    /// <summary>Check each group's pruning against <see cref="AccuracyThreshold"/> before committing it.</summary>
    public bool AccuracyFirst { get; init; }

    /// <summary>Worst validation score a group's pruning may leave, in the task score's units (a floor when higher is better,
    /// a ceiling when lower is).</summary>
    public double AccuracyThreshold { get; init; }

    /// <summary>Reads and checks the settings; throws <see cref="ArgumentException"/> naming the key of a bad or unknown
    /// one.</summary>
    public static ChannelPruningSettings Read(IReadOnlyDictionary<string, string> settings, string compressorName)
    {
        var reader = new SettingsReader(settings);
        var method = reader.Choice("method", "lasso", "lasso", "l1") == "l1" ? SelectionMethod.L1 : SelectionMethod.Lasso;
        var sampling = new SamplingOptions(
            TrainsetRatio: reader.Double("trainset_ratio", 0.05, 0, 1, minExclusive: true),
            PixelsPerImage: reader.Int("sampled_pixels_per_img", 10, 1),
            Seed: reader.Int("seed", 0),
            MaxRows: reader.Int("max_rows", 0, 0));
        var result = new ChannelPruningSettings
        {
            Method = method,
            Sampling = sampling,
            LarsAlphaInit = reader.Double("lars_alpha_init", 1e-4, 0, double.PositiveInfinity, minExclusive: true),
            Reconstruct = reader.Bool("reconstruct", true),
            Ratios = reader.DoubleMap("ratios", 0, 1, minExclusive: true, maxExclusive: true),
            SkipLayers = reader.List("skip_layers"),
            AccuracyFirst = reader.Bool("accuracy_first", false),
            AccuracyThreshold = reader.Double("accuracy_threshold", 0, double.MinValue, double.MaxValue),
        };
        if (result.AccuracyFirst && reader.Text("accuracy_threshold") is null)
            throw new ArgumentException("Compression:Settings:accuracy_first is true but Compression:Settings:accuracy_threshold " +
                                        "is not set; give the lowest validation accuracy a group's pruning may leave, in [0, 1].");
        reader.ThrowOnUnknown(compressorName);
        return result;
    }
}
