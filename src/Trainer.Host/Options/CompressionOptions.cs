namespace Trainer.Host.Options;

/// <summary>The "Compression" configuration section: plugins to load, and how `trainer compress` iterates.</summary>
public sealed class CompressionOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Compression";

    /// <summary>Accepted values of <see cref="Allocation"/>.</summary>
    public static IReadOnlyList<string> Allocations => Core.Compression.CompressionSessionOptions.Allocations;

    /// <summary>Folder holding one sub-folder per plugin; relative paths start at the current directory.</summary>
    public string PluginsDir { get; set; } = "plugins/bin";

    /// <summary>Plugin names; plugin <c>Name</c> is loaded from <c>&lt;PluginsDir&gt;/&lt;Name&gt;/&lt;Name&gt;.dll</c>.</summary>
    public List<string> Plugins { get; set; } = [];

    /// <summary>Name of the compressor to run (a loaded plugin's <c>ICompressor.Name</c>, e.g. "channel-pruning").</summary>
    public string Compressor { get; set; } = "";

    /// <summary>Conv2d/Linear MACs the compressed model may keep, as a fraction of the original's, in (0, 1).</summary>
    public double TargetFlopsRatio { get; set; } = 0.5;

    /// <summary>A latency budget instead of the MACs one: batch-1 latency the compressed model may take, as a fraction of the
    /// original's, in (0, 1); 0 = off (TargetFlopsRatio rules). Needs Allocation "latency": each round keeps the most MACs the
    /// latency table predicts within the round's budget, and the run stops when the speedup measured against the original
    /// (alternating rounds) meets it.</summary>
    public double TargetLatencyRatio { get; set; }

    /// <summary>Compress → finetune rounds to reach the target; round i aims at TargetFlopsRatio^(i/Iterations)
    /// (or TargetLatencyRatio^(i/Iterations)).</summary>
    public int Iterations { get; set; } = 1;

    /// <summary>Stop (keeping the previous round's model) when the task's score after finetuning is worse than this, in the
    /// score's units and direction (under it when higher is better, over it when lower is); unset = off.</summary>
    public double? ScoreThreshold { get; set; }

    /// <summary>Finetuning epochs after each compress step (0 = none).</summary>
    public int FinetuneEpochs { get; set; } = 1;

    /// <summary>Finetuning learning rate; 0 = a tenth of Trainer:LearningRate (the weights start close to a good solution).</summary>
    public double FinetuneLearningRate { get; set; }

    /// <summary>Distil from the uncompressed model while finetuning.</summary>
    public bool Distill { get; set; }

    /// <summary>Distillation temperature (with Distill).</summary>
    public double DistillTemperature { get; set; } = 4.0;

    /// <summary>Weight of the teacher's loss (with Distill), in [0, 1].</summary>
    public double DistillAlpha { get; set; } = 0.9;

    /// <summary>Who decides the per-layer keep ratios: "compressor" (its own settings), "uniform", "latency" (latency-aware)
    /// or "searched" (the best policy of a ratio search, <see cref="Policy"/>).</summary>
    public string Allocation { get; set; } = "compressor";

    /// <summary>With Allocation "searched": the search-result.json whose best policy sets each group's width.</summary>
    public string Policy { get; set; } = "";

    /// <summary>Smallest fraction of its original width any layer keeps under the uniform and latency allocations.</summary>
    public double LayerFloor { get; set; } = 0.5;

    /// <summary>Kept channel counts are rounded up to multiples of this (1 = no rounding).</summary>
    public int RoundTo { get; set; } = 8;

    /// <summary>Folder of the latency tables (per model and machine); empty = ~/.cache/trainer/latency.</summary>
    public string LatencyCacheDir { get; set; } = "";

    /// <summary>Under the latency allocation: how many of the table's best allocations are built and timed, the fastest
    /// measured winning. 1 (the default) takes the table's pick untimed, so the same configuration gives the same widths on
    /// every run of this machine (the table is cached); more trusts the clock of this run, which differs from run to run.</summary>
    public int MeasuredCandidates { get; set; } = 1;

    /// <summary>Under the latency allocation: the form the latency table and the candidates are timed in: "trained" (the
    /// model as it is), "inference" (BatchNorm folded, faster layout: what `trainer export` ships) or "onnx" (exported and run
    /// in ONNX Runtime, what `--Export:Format=onnx` ships; pair it with RoundTo = 16).</summary>
    public string LatencyForm { get; set; } = "trained";

    /// <summary>Forms <see cref="LatencyForm"/> accepts.</summary>
    public static IReadOnlyList<string> LatencyForms => Core.Compression.CompressionSessionOptions.LatencyForms;

    /// <summary>Under the latency allocation with a MACs target: measured local moves after that choice (each times about ten
    /// neighbouring allocations against the incumbent and takes a clear winner); 0 = none.</summary>
    public int RefineSteps { get; set; }

    /// <summary>Validation images compressors may use to check accuracy while they work (accuracy-first modes).</summary>
    public int AccuracySamples { get; set; } = 2000;

    /// <summary>Settings handed to the configured compressor as they are (its documentation lists the keys), over those of
    /// its own section in <see cref="Compressors"/>.</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Each compressor's own settings, by compressor name ("channel-pruning": {"method": "lasso"}): only the
    /// configured compressor's section is handed over, so switching compressors does not carry another's keys.</summary>
    public Dictionary<string, Dictionary<string, string>> Compressors { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings the configured compressor gets: its section of <see cref="Compressors"/>, then <see cref="Settings"/>.</summary>
    public IReadOnlyDictionary<string, string> EffectiveSettings => PluginSettings.Merge(Compressors, Compressor, Settings);

    /// <summary>The session options these keys describe (everything but the plugins and the compressor's name).</summary>
    public Core.Compression.CompressionSessionOptions ToSession() => new()
    {
        TargetFlopsRatio = TargetFlopsRatio, TargetLatencyRatio = TargetLatencyRatio, Iterations = Iterations, ScoreThreshold = ScoreThreshold,
        FinetuneEpochs = FinetuneEpochs, FinetuneLearningRate = FinetuneLearningRate, Distill = Distill,
        Distillation = new Core.Training.DistillationOptions(DistillTemperature, DistillAlpha), Allocation = Allocation, PolicyFile = Policy, LayerFloor = LayerFloor,
        RoundTo = RoundTo, LatencyCacheDir = LatencyCacheDir, MeasuredCandidates = MeasuredCandidates, LatencyForm = LatencyForm,
        RefineSteps = RefineSteps, AccuracySamples = AccuracySamples, Settings = EffectiveSettings,
    };
}
