using System.Globalization;

namespace Trainer.Abstractions.Tasks;

/// <summary>Whether a larger or a smaller score is the better one.</summary>
public enum ScoreDirection
{
    /// <summary>Larger is better (accuracy, PSNR, F1).</summary>
    HigherIsBetter,
    /// <summary>Smaller is better (mean squared error, word error rate).</summary>
    LowerIsBetter,
}

/// <summary>
/// The number a task judges a model by, under its own name and direction: best checkpoints, accuracy-first compression,
/// the stop threshold, sensitivity analysis and every report use it.
/// </summary>
/// <param name="Name">Metric name as the task's trainer logs it under "val/" (e.g. "accuracy", "psnr", "mse").</param>
/// <param name="Direction">Which way is better.</param>
public sealed record TaskScore(string Name, ScoreDirection Direction)
{
    /// <summary>Top-1 accuracy, higher is better: the classification tasks' score.</summary>
    public static TaskScore Accuracy { get; } = new("accuracy", ScoreDirection.HigherIsBetter);

    /// <summary>True when larger values are better.</summary>
    public bool HigherIsBetter => Direction == ScoreDirection.HigherIsBetter;

    /// <summary>True when <paramref name="candidate"/> is strictly better than <paramref name="incumbent"/>.</summary>
    public bool IsBetter(double candidate, double incumbent) => HigherIsBetter ? candidate > incumbent : candidate < incumbent;

    /// <summary>True when <paramref name="value"/> is at least as good as <paramref name="threshold"/> (NaN never is).</summary>
    public bool Meets(double value, double threshold) => HigherIsBetter ? value >= threshold : value <= threshold;

    /// <summary>How much worse <paramref name="after"/> is than <paramref name="before"/> (positive = a loss), in the score's units.</summary>
    public double Loss(double before, double after) => HigherIsBetter ? before - after : after - before;

    /// <summary>"accuracy 0.9123" (four decimals; the score's own units).</summary>
    public string Format(double value) => string.Create(CultureInfo.InvariantCulture, $"{Name} {value:0.####}");

    /// <summary>"at least" or "at most": the word a threshold of this score reads with.</summary>
    public string ThresholdWord => HigherIsBetter ? "at least" : "at most";
}
