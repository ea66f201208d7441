using System.Text.Json.Nodes;
using TorchSharp;

namespace Trainer.Core.Optimization;

/// <summary>
/// Reduces the rate by <c>factor</c> when the validation loss has not improved (relative threshold)
/// for more than <c>patience</c> epochs (PyTorch's ReduceLROnPlateau, mode "min", threshold mode "rel").
/// </summary>
public sealed class PlateauLrSchedule : LrScheduleBase
{
    private readonly double _factor;
    private readonly int _patience;
    private readonly double _threshold;
    private readonly double _minLr;
    private readonly int _cooldown;
    private double _best = double.PositiveInfinity;
    private int _badEpochs;
    private int _cooldownLeft;

    /// <summary>Creates the schedule.</summary>
    public PlateauLrSchedule(torch.optim.Optimizer optimizer, double factor = 0.1, int patience = 10,
        double threshold = 1e-4, double minLr = 0, int cooldown = 0) : base(optimizer)
    {
        if (factor is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(factor), "factor must be in (0,1)");
        _factor = factor;
        _patience = patience;
        _threshold = threshold;
        _minLr = minLr;
        _cooldown = cooldown;
    }

    /// <inheritdoc />
    public override void Step(int epoch, double? validationLoss)
    {
        if (validationLoss is not { } loss)
            throw new InvalidOperationException(
                "The plateau schedule needs a validation loss: give the trainer a validation loader (Trainer:Scheduler=plateau).");
        if (loss < _best * (1 - _threshold)) { _best = loss; _badEpochs = 0; }
        else _badEpochs++;

        if (_cooldownLeft > 0) { _cooldownLeft--; _badEpochs = 0; }
        if (_badEpochs > _patience)
        {
            foreach (var group in Optimizer.ParamGroups)
                group.LearningRate = Math.Max(group.LearningRate * _factor, _minLr);
            _cooldownLeft = _cooldown;
            _badEpochs = 0;
        }
    }

    /// <inheritdoc />
    public override JsonObject SaveState()
    {
        var state = base.SaveState();
        state["best"] = double.IsInfinity(_best) ? null : _best;
        state["bad_epochs"] = _badEpochs;
        state["cooldown_left"] = _cooldownLeft;
        return state;
    }

    /// <inheritdoc />
    public override void LoadState(JsonObject state)
    {
        base.LoadState(state);
        _best = state["best"]?.GetValue<double>() ?? double.PositiveInfinity;
        _badEpochs = state["bad_epochs"]!.GetValue<int>();
        _cooldownLeft = state["cooldown_left"]!.GetValue<int>();
    }
}
