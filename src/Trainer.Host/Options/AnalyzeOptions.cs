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

    /// <summary>Sensitivity analysis settings.</summary>
    public SensitivitySection Sensitivity { get; set; } = new();
}

/// <summary>The "Analyze:Sensitivity" section.</summary>
public sealed class SensitivitySection
{
    /// <summary>Sparsities to try, comma-separated.</summary>
    public string Sparsities { get; set; } = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9";

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
}
