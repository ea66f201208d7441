using System.Text.Json.Nodes;

namespace Trainer.Core.Checkpoints;

/// <summary>The loop state stored in a checkpoint beside the network and optimizer tensors.</summary>
public sealed record CheckpointState
{
    /// <summary>Zero-based index of the last completed epoch.</summary>
    public required int Epoch { get; init; }

    /// <summary>Optimizer steps taken.</summary>
    public required long GlobalStep { get; init; }

    /// <summary>Metrics at the time of the checkpoint.</summary>
    public required Dictionary<string, double> Metrics { get; init; }

    /// <summary>Best value of the monitored metric so far.</summary>
    public double? BestMetric { get; init; }

    /// <summary>Learning-rate schedule state, if there is a schedule.</summary>
    public JsonObject? Schedule { get; init; }

    /// <summary>Each callback's state, by its state key.</summary>
    public Dictionary<string, JsonObject> Callbacks { get; init; } = new();

    /// <summary>The stop a callback had requested by the end of this epoch (e.g. early stopping), or null: a resumed run stops
    /// where the unbroken one did.</summary>
    public string? StopRequested { get; init; }

    /// <summary>The global torch random generator's state (dropout and other random layers).</summary>
    public required byte[] RngState { get; init; }
}
