using TorchSharp;

namespace Trainer.Core.Optimization;

/// <summary>Which learning-rate schedule to build and its parameters.</summary>
public sealed record ScheduleOptions
{
    /// <summary>Accepted schedule names.</summary>
    public static readonly IReadOnlyList<string> Names = ["none", "step", "cosine", "plateau"];

    /// <summary>"none", "step", "cosine" or "plateau".</summary>
    public string Name { get; init; } = "none";

    /// <summary>Step schedule: epochs between decays.</summary>
    public int StepSize { get; init; } = 10;

    /// <summary>Step and plateau schedules: multiplier applied at each decay.</summary>
    public double Gamma { get; init; } = 0.1;

    /// <summary>Plateau schedule: epochs without improvement before a decay.</summary>
    public int Patience { get; init; } = 2;

    /// <summary>Cosine schedule: epochs of one half-period (0 = the run's epochs).</summary>
    public int CosinePeriod { get; init; }

    /// <summary>Lowest rate the cosine and plateau schedules reach.</summary>
    public double MinLr { get; init; }

    /// <summary>Builds the schedule, or null for "none".</summary>
    public ILrSchedule? Create(torch.optim.Optimizer optimizer, int epochs) => Name.ToLowerInvariant() switch
    {
        "none" => null,
        "step" => new StepLrSchedule(optimizer, StepSize, Gamma),
        "cosine" => new CosineLrSchedule(optimizer, CosinePeriod > 0 ? CosinePeriod : epochs, MinLr),
        "plateau" => new PlateauLrSchedule(optimizer, Gamma, Patience, minLr: MinLr),
        _ => throw new ArgumentException($"Unknown schedule '{Name}'. Accepted: {string.Join(", ", Names)}."),
    };
}
