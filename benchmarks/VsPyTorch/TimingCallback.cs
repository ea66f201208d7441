using System.Diagnostics;
using Trainer.Abstractions;

namespace Benchmarks.VsPyTorch;

/// <summary>
/// Times the default job from inside: training from the end of the warm-up steps to the last step,
/// evaluation from the last step to the end of validation; keeps the first three losses.
/// </summary>
internal sealed class TimingCallback(int warmupSteps) : TrainerCallback
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private double _trainStart = double.NaN, _lastStep, _validationEnd;

    public List<double> FirstLosses { get; } = [];
    public long TimedSamples { get; private set; }
    public double TrainSeconds => _lastStep - _trainStart;
    public double EvalSeconds => _validationEnd - _lastStep;

    public override void OnTrainStart(ITrainingContext context)
    {
        if (warmupSteps == 0) _trainStart = _clock.Elapsed.TotalSeconds;
    }

    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome)
    {
        if (FirstLosses.Count < 3) FirstLosses.Add(Math.Round(outcome.Losses[LossNames.Total], 5));
        if (context.GlobalStep > warmupSteps) TimedSamples += outcome.BatchSize;
        if (context.GlobalStep == warmupSteps) _trainStart = _clock.Elapsed.TotalSeconds;
        _lastStep = _clock.Elapsed.TotalSeconds;
    }

    public override void OnValidationEnd(ITrainingContext context, IReadOnlyDictionary<string, double> metrics) =>
        _validationEnd = _clock.Elapsed.TotalSeconds;
}
