namespace Trainer.Host.Options;

/// <summary>The "Trainer" configuration section: how the default job trains.</summary>
public sealed class TrainerOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Trainer";

    public int Epochs { get; set; } = 1;
    /// <summary>Stop after this many optimizer steps (0 = no limit).</summary>
    public long MaxSteps { get; set; }
    public int BatchSize { get; set; } = 64;
    public int EvalBatchSize { get; set; } = 256;
    public string Optimizer { get; set; } = "sgd";
    public double LearningRate { get; set; } = 0.01;
    public double Momentum { get; set; } = 0.9;
    public double WeightDecay { get; set; }
    public bool Nesterov { get; set; }
    public string Scheduler { get; set; } = "none";
    public int StepSize { get; set; } = 10;
    public double Gamma { get; set; } = 0.1;
    /// <summary>Plateau schedule: epochs without improvement before a decay.</summary>
    public int Patience { get; set; } = 2;
    public double MinLr { get; set; }
    /// <summary>Stop once the learning rate falls below this (0 = off).</summary>
    public double StopLr { get; set; }
    public double GradientClipNorm { get; set; }
    /// <summary>Metric the best checkpoint is chosen by; empty = the task's score ("val/&lt;score&gt;").</summary>
    public string MonitorMetric { get; set; } = "";
    /// <summary>"max" or "min"; empty = the task score's direction.</summary>
    public string MonitorMode { get; set; } = "";
    public EarlyStoppingSection EarlyStopping { get; set; } = new();
    /// <summary>Scheduled pruning while training (kind none = off).</summary>
    public PruningSection Pruning { get; set; } = new();
    public int Seed { get; set; }
    public string Device { get; set; } = "cpu";
    /// <summary>Intra-op threads (0 = TorchSharp's default).</summary>
    public int Threads { get; set; }
    /// <summary>Convolution kernels: auto (oneDNN unless its self-test fails on this CPU), onednn, native.</summary>
    public string ConvKernels { get; set; } = "auto";
    /// <summary>Name of the run's folders under LogDir and CheckpointDir; empty = a timestamp.</summary>
    public string RunName { get; set; } = "";
    public string LogDir { get; set; } = "runs";
    public string CheckpointDir { get; set; } = "checkpoints";
    public int LogEveryNSteps { get; set; } = 50;
    public bool WeightHistograms { get; set; } = true;
    /// <summary>Continue the run named RunName (or the newest run) from its last checkpoint.</summary>
    public bool Resume { get; set; }
}

/// <summary>The "Trainer:EarlyStopping" section; Patience 0 turns early stopping off.</summary>
public sealed class EarlyStoppingSection
{
    public string Monitor { get; set; } = "val/total_loss";
    public string Mode { get; set; } = "min";
    public int Patience { get; set; }
    public double MinDelta { get; set; }
}
