using System.Text.Json.Nodes;

namespace Trainer.Core.Optimization;

/// <summary>
/// A learning-rate schedule the loop steps once per epoch. Its state goes into checkpoints so a
/// resumed run continues the schedule exactly.
/// </summary>
public interface ILrSchedule
{
    /// <summary>Called after epoch <paramref name="epoch"/> (zero-based) with its validation loss, if any.</summary>
    void Step(int epoch, double? validationLoss);

    /// <summary>State for checkpoints.</summary>
    JsonObject SaveState();

    /// <summary>Restore what <see cref="SaveState"/> returned.</summary>
    void LoadState(JsonObject state);
}
