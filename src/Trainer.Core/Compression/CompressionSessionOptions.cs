namespace Trainer.Core.Compression;

/// <summary>
/// How a <see cref="CompressionSession"/> iterates compress step → finetune → score → save. The property names are the keys
/// of the host's "Compression" section, which maps onto them one to one.
/// </summary>
public sealed record CompressionSessionOptions
{
    /// <summary>Accepted values of <see cref="Allocation"/>.</summary>
    public static readonly IReadOnlyList<string> Allocations = ["compressor", "uniform", "latency", "searched"];

    /// <summary>Forms <see cref="LatencyForm"/> accepts.</summary>
    public static readonly IReadOnlyList<string> LatencyForms = ["trained", "inference", "onnx"];

    /// <summary>Conv2d/Linear MACs the compressed model may keep, as a fraction of the original's, in (0, 1).</summary>
    public double TargetFlopsRatio { get; init; } = 0.5;

    /// <summary>A latency budget instead (fraction of the original's batch-1 latency, in (0, 1); 0 = off); needs
    /// <see cref="Allocation"/> "latency".</summary>
    public double TargetLatencyRatio { get; init; }

    /// <summary>Compress → finetune rounds; round i aims at the target^(i/Iterations).</summary>
    public int Iterations { get; init; } = 1;

    /// <summary>Stop, keeping the previous round's model, when the task's score after finetuning is worse than this; null = off.</summary>
    public double? ScoreThreshold { get; init; }

    /// <summary>Finetuning epochs after each compress step (0 = none).</summary>
    public int FinetuneEpochs { get; init; } = 1;

    /// <summary>Finetuning learning rate; 0 = a tenth of the recipe's.</summary>
    public double FinetuneLearningRate { get; init; }

    /// <summary>Distil from the uncompressed model while finetuning.</summary>
    public bool Distill { get; init; }

    /// <summary>Distillation temperature and weight, with <see cref="Distill"/>.</summary>
    public Training.DistillationOptions Distillation { get; init; } = new();

    /// <summary>Who decides the per-layer keep ratios: "compressor", "uniform", "latency" or "searched"
    /// (<see cref="Compression.Allocation.ChannelAllocators"/>).</summary>
    public string Allocation { get; init; } = "compressor";

    /// <summary>With <see cref="Allocation"/> "searched": the search-result.json whose best policy sets the widths.</summary>
    public string PolicyFile { get; init; } = "";

    /// <summary>Smallest fraction of its original width any layer keeps under the uniform and latency allocations.</summary>
    public double LayerFloor { get; init; } = 0.5;

    /// <summary>Kept channel counts are rounded up to multiples of this (1 = no rounding).</summary>
    public int RoundTo { get; init; } = 8;

    /// <summary>Folder of the latency tables; empty = ~/.cache/trainer/latency.</summary>
    public string LatencyCacheDir { get; init; } = "";

    /// <summary>Under the latency allocation: the table's best allocations built and timed (1 = the table's pick, untimed).</summary>
    public int MeasuredCandidates { get; init; } = 1;

    /// <summary>Under the latency allocation: "trained" (time the model as it is in TorchSharp), "inference" (folded, faster
    /// layout) or "onnx" (exported and timed in ONNX Runtime; use <see cref="RoundTo"/> 16 there).</summary>
    public string LatencyForm { get; init; } = "trained";

    /// <summary>Under the latency allocation with a MACs target: measured local moves after the choice (0 = none).</summary>
    public int RefineSteps { get; init; }

    /// <summary>Validation samples compressors score on while they work (accuracy-first modes).</summary>
    public int AccuracySamples { get; init; } = 2000;

    /// <summary>Settings handed to the compressor as they are.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Throws <see cref="CompressionSettingsException"/> naming the option when <see cref="LatencyForm"/> is not one of
    /// <see cref="LatencyForms"/> (an unknown form would otherwise be timed silently as the trained one).</summary>
    public void CheckLatencyForm()
    {
        if (!LatencyForms.Contains(LatencyForm ?? "", StringComparer.OrdinalIgnoreCase))
            throw new CompressionSettingsException(nameof(LatencyForm),
                $"LatencyForm '{LatencyForm}' is unknown; accepted: {string.Join(", ", LatencyForms)}");
    }
}

/// <summary>A compression setting that cannot be used; <see cref="Keys"/> names the <see cref="CompressionSessionOptions"/>
/// properties (for a host, its configuration keys) to change.</summary>
public sealed class CompressionSettingsException(string keys, string message, Exception? inner = null) : ArgumentException(message, inner)
{
    /// <summary>The options involved, e.g. "Settings" or "TargetLatencyRatio, LayerFloor".</summary>
    public string Keys { get; } = keys;
}
