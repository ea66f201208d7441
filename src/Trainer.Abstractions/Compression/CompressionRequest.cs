using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;

namespace Trainer.Abstractions.Compression;

/// <summary>What the host hands a compressor: the model, what it eats, some data, the target and the settings.</summary>
public sealed class CompressionRequest
{
    /// <summary>The trained model to compress. The compressor may modify it in place.</summary>
    public required torch.nn.Module<torch.Tensor, torch.Tensor> Model { get; init; }

    /// <summary>Shape of one example input, batch dimension included (e.g. [1, 1, 28, 28]).</summary>
    public required IReadOnlyList<long> ExampleInputShape { get; init; }

    /// <summary>Sampled training data for compressors that calibrate or fine-tune; null when none is available.</summary>
    public IBatchLoader? TrainingData { get; init; }

    /// <summary>
    /// Fraction of the original model's FLOPs the compressed model should keep, in (0, 1]; 1 asks for no reduction.
    /// A compressor that cannot aim at a FLOPs target says so in its report.
    /// </summary>
    public double TargetFlopsRatio { get; init; } = 1.0;

    /// <summary>Free-form settings from configuration, by key; each compressor documents the keys it reads.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>The core's structural operations on <see cref="Model"/> (shrink channels, factorize layers, sample
    /// responses). Compressors change structure only through it, so the host can record and replay every edit.</summary>
    public required IModelEditor Editor { get; init; }

    /// <summary>Keep ratio per channel group (<see cref="ChannelGroupInfo.Id"/>) chosen by the host's allocator (e.g.
    /// latency-aware); null lets the compressor allocate from <see cref="TargetFlopsRatio"/> and its settings.</summary>
    public IReadOnlyDictionary<string, double>? GroupKeepRatios { get; init; }

    /// <summary>The task's score of a model on held-out data (cheap: a fixed subset), in <see cref="Score"/>'s units and
    /// direction; null when none is available. Compressors with score thresholds (accuracy-first modes) use it.</summary>
    public Func<torch.nn.Module<torch.Tensor, torch.Tensor>, double>? EvaluateScore { get; init; }

    /// <summary>What <see cref="EvaluateScore"/> returns: its name and which way is better.</summary>
    public Tasks.TaskScore Score { get; init; } = Tasks.TaskScore.Accuracy;

    /// <summary>Validation accuracy in [0, 1] when the task's score is accuracy; null otherwise.</summary>
    [Obsolete("Use EvaluateScore with Score: a task's score may be another metric, and lower may be better.")]
    public Func<torch.nn.Module<torch.Tensor, torch.Tensor>, double>? EvaluateAccuracy =>
        Score.Name == Tasks.TaskScore.Accuracy.Name && Score.HigherIsBetter ? EvaluateScore : null;

    /// <summary>Trains <see cref="Model"/> in place with the task's own trainer, optimizer and learning rate, plus what the
    /// <see cref="TaskTraining"/> adds (loss terms, callbacks); null when the host has no training to offer. Data-driven
    /// pruners (slim, APoZ, mean activation, Taylor) collect their importance through it. Since contract 1.2.</summary>
    public Action<TaskTraining>? Train { get; init; }

    /// <summary>Where the compressor logs progress.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
