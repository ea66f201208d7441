namespace Trainer.Core.Pruning.Schedules;

/// <summary>How the target sparsity rises from the initial to the final value.</summary>
public enum ScheduleShape
{
    /// <summary>Zhu and Gupta's automated gradual pruning (NNI's AGP): s_t = s_f + (s_i − s_f)(1 − p)³, fast at first.</summary>
    Agp,

    /// <summary>A straight line: s_t = s_i + (s_f − s_i)·p.</summary>
    Linear,
}

/// <summary>What the schedule's counter counts.</summary>
public enum ScheduleUnit
{
    /// <summary>Optimizer steps taken (checked after every training batch).</summary>
    Step,

    /// <summary>Epochs completed (checked at every epoch end).</summary>
    Epoch,
}

/// <summary>
/// A target sparsity over training: pruning happens at t = Start, Start + Frequency, … and at End, where t counts steps
/// or completed epochs; p = (t − Start) / (End − Start) is the progress. Before Start the target is 0, from End on it is
/// the final sparsity.
/// </summary>
public sealed record SparsitySchedule
{
    /// <summary>Creates a schedule; every bound is checked here, so a bad one fails before training starts.</summary>
    public SparsitySchedule(ScheduleShape shape, double initialSparsity, double finalSparsity, long start, long end, long frequency = 1)
    {
        if (!(initialSparsity >= 0 && initialSparsity <= 1) || !(finalSparsity >= 0 && finalSparsity <= 1))
            throw new ArgumentOutOfRangeException(nameof(finalSparsity),
                $"Sparsities are fractions of the entries in [0, 1]; got initial {initialSparsity} and final {finalSparsity}.");
        if (initialSparsity > finalSparsity)
            throw new ArgumentException($"The initial sparsity {initialSparsity} is above the final {finalSparsity}; pruned entries never come back, so the schedule must not fall.");
        if (start < 0 || end < start)
            throw new ArgumentException($"The schedule runs from start {start} to end {end}; it needs 0 ≤ start ≤ end.");
        if (frequency < 1)
            throw new ArgumentOutOfRangeException(nameof(frequency), $"Pruning every {frequency} steps or epochs is impossible; the frequency must be at least 1.");
        (Shape, InitialSparsity, FinalSparsity, Start, End, Frequency) = (shape, initialSparsity, finalSparsity, start, end, frequency);
    }

    /// <summary>NNI's AGP schedule from <paramref name="initialSparsity"/> to <paramref name="finalSparsity"/>.</summary>
    public static SparsitySchedule Agp(double finalSparsity, long start, long end, long frequency = 1, double initialSparsity = 0) =>
        new(ScheduleShape.Agp, initialSparsity, finalSparsity, start, end, frequency);

    /// <summary>A linear schedule from <paramref name="initialSparsity"/> to <paramref name="finalSparsity"/>.</summary>
    public static SparsitySchedule Linear(double finalSparsity, long start, long end, long frequency = 1, double initialSparsity = 0) =>
        new(ScheduleShape.Linear, initialSparsity, finalSparsity, start, end, frequency);

    /// <summary>The shape of the rise.</summary>
    public ScheduleShape Shape { get; }

    /// <summary>Sparsity of the first pruning, at <see cref="Start"/>.</summary>
    public double InitialSparsity { get; }

    /// <summary>Sparsity reached at <see cref="End"/>.</summary>
    public double FinalSparsity { get; }

    /// <summary>Counter value of the first pruning.</summary>
    public long Start { get; }

    /// <summary>Counter value of the last pruning.</summary>
    public long End { get; }

    /// <summary>Counter values between two prunings.</summary>
    public long Frequency { get; }

    /// <summary>True when the callback prunes at counter value <paramref name="t"/>.</summary>
    public bool IsPruningPoint(long t) => t >= Start && t <= End && ((t - Start) % Frequency == 0 || t == End);

    /// <summary>The first pruning point at or after <paramref name="t"/>, or null when the schedule has ended.</summary>
    public long? NextPruningPoint(long t)
    {
        if (t > End) return null;
        if (t <= Start) return Start;
        var next = Start + (t - Start + Frequency - 1) / Frequency * Frequency;
        return Math.Min(next, End);
    }

    /// <summary>The target sparsity at counter value <paramref name="t"/>.</summary>
    public double SparsityAt(long t)
    {
        if (t < Start) return 0;
        if (t >= End) return FinalSparsity;
        var progress = (double)(t - Start) / (End - Start);
        return Shape switch
        {
            ScheduleShape.Agp => FinalSparsity + (InitialSparsity - FinalSparsity) * Math.Pow(1 - progress, 3),
            _ => InitialSparsity + (FinalSparsity - InitialSparsity) * progress,
        };
    }
}
