namespace Trainer.Host.Options;

/// <summary>The "Analyze" configuration section of `trainer analyze`.</summary>
public sealed class AnalyzeOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Analyze";

    /// <summary>FLOPs counting mode: "default" (Conv/Linear MACs) or "full" (NNI's full mode).</summary>
    public string CountMode { get; set; } = "default";

    /// <summary>Folder for CSV, PNG, DOT and mask files.</summary>
    public string OutputDir { get; set; } = "reports";

    /// <summary>Filter masks file (JSON) for `analyze masks`.</summary>
    public string Masks { get; set; } = "";

    /// <summary>How coupled layers' masks are reconciled: "union" (keep what any keeps) or "intersection".</summary>
    public string MaskConflictMode { get; set; } = "union";

    /// <summary>Sensitivity analysis settings.</summary>
    public SensitivitySection Sensitivity { get; set; } = new();
}

/// <summary>The "Analyze:Sensitivity" section.</summary>
public sealed class SensitivitySection
{
    /// <summary>Sparsities to try, comma-separated.</summary>
    public string Sparsities { get; set; } = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";

    /// <summary>How each layer is pruned: l1 (filters by L1 norm, NNI's default), l2, fpgm or level (single weights).</summary>
    public string Pruner { get; set; } = "l1";

    /// <summary>none, minimize, maximize, dropped or raised.</summary>
    public string EarlyStopMode { get; set; } = "none";

    /// <summary>Threshold of the early-stop mode.</summary>
    public double EarlyStopValue { get; set; }

    /// <summary>Layers to analyse, comma-separated; empty = every prunable layer.</summary>
    public string Layers { get; set; } = "";

    /// <summary>This process's shard (0-based) when the layers are split across ShardCount processes.</summary>
    public int ShardIndex { get; set; }

    /// <summary>Number of shards (1 = no sharding).</summary>
    public int ShardCount { get; set; } = 1;

    /// <summary>Test images used by the validation metric (accuracy); 0 = all.</summary>
    public int ValidationSamples { get; set; } = 2000;

    /// <summary>Shard CSVs to merge, comma-separated; when set, sensitivity merges instead of analysing.</summary>
    public string MergeFiles { get; set; } = "";

    /// <summary>Where the merged CSV goes (with its PNG beside it).</summary>
    public string MergeOutput { get; set; } = "reports/sensitivity-merged.csv";

    /// <summary>Parses <see cref="Sparsities"/>; null if any entry is not a number in (0, 1).</summary>
    public double[]? ParseSparsities()
    {
        var parts = Sparsities.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = parts.Select(p => double.TryParse(p, System.Globalization.NumberStyles.Float,
            System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToArray();
        return values.Length > 0 && values.All(v => v is > 0 and < 1) ? values : null;
    }

    /// <summary>Parses <see cref="Layers"/>; null when empty (every prunable layer).</summary>
    public string[]? ParseLayers() =>
        Layers.Length == 0 ? null : Layers.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
}
