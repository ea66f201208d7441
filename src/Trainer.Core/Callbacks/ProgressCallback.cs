using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Trainer.Abstractions;

namespace Trainer.Core.Callbacks;

/// <summary>
/// Shows training progress: a live Spectre.Console bar per epoch (samples/s, loss, ETA) in an
/// interactive terminal, plain log lines every few batches when output is redirected or CI=true.
/// Each epoch ends with one summary log line either way.
/// </summary>
public sealed class ProgressCallback(ILogger logger, int batchesPerEpoch, int logEveryNBatches = 100, bool? live = null) : TrainerCallback
{
    private readonly bool _live = live ?? IsInteractiveTerminal();
    private readonly Stopwatch _epochClock = new();
    private long _epochSamples;
    private double _lossSum;
    private int _lossCount;
    private LiveBar? _bar;

    /// <summary>True when stdout is a terminal that can redraw and CI is not set.</summary>
    public static bool IsInteractiveTerminal() =>
        !Console.IsOutputRedirected &&
        !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) &&
        AnsiConsole.Profile.Capabilities.Interactive;

    /// <inheritdoc />
    public override void OnEpochStart(ITrainingContext context)
    {
        _epochClock.Restart();
        _epochSamples = 0;
        _lossSum = 0;
        _lossCount = 0;
        if (_live) _bar = new LiveBar($"Epoch {context.Epoch + 1}/{context.MaxEpochs}", batchesPerEpoch);
    }

    /// <inheritdoc />
    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome)
    {
        _epochSamples += outcome.BatchSize;
        _lossSum += outcome.Losses[LossNames.Total];
        _lossCount++;
        var done = outcome.BatchIndex + 1;
        var rate = _epochSamples / Math.Max(_epochClock.Elapsed.TotalSeconds, 1e-9);
        if (_bar is not null)
        {
            _bar.Update(done, $"Epoch {context.Epoch + 1}/{context.MaxEpochs} loss {_lossSum / _lossCount:0.0000} {rate:0} samples/s");
            if (done == batchesPerEpoch) CloseBar(); // validation follows; the bar has nothing more to show
        }
        else if (done % logEveryNBatches == 0 || done == batchesPerEpoch)
        {
            var eta = TimeSpan.FromSeconds(_epochClock.Elapsed.TotalSeconds / done * (batchesPerEpoch - done));
            logger.LogInformation("Epoch {Epoch}/{Epochs} batch {Batch}/{Batches} loss {Loss:0.0000} {Rate:0} samples/s ETA {Eta:mm\\:ss}",
                context.Epoch + 1, context.MaxEpochs, done, batchesPerEpoch, _lossSum / _lossCount, rate, eta);
        }
    }

    /// <inheritdoc />
    public override void OnEpochEnd(ITrainingContext context)
    {
        CloseBar();
        var shown = context.Metrics.Where(kv => kv.Key.StartsWith("val/") || kv.Key.StartsWith("train/epoch_") || kv.Key == "lr")
            .OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value:0.####}");
        logger.LogInformation("Epoch {Epoch}/{Epochs} done in {Seconds:0.0}s: {Metrics}",
            context.Epoch + 1, context.MaxEpochs, _epochClock.Elapsed.TotalSeconds, string.Join(" ", shown));
    }

    /// <inheritdoc />
    public override void OnException(ITrainingContext context, Exception exception) => CloseBar();

    private void CloseBar()
    {
        _bar?.Dispose();
        _bar = null;
    }

    /// <summary>A Spectre progress display running on its own thread for one epoch.</summary>
    private sealed class LiveBar : IDisposable
    {
        private readonly ManualResetEventSlim _ready = new(), _finished = new();
        private readonly Thread _thread;
        private ProgressTask? _task;

        public LiveBar(string description, int total)
        {
            _thread = new Thread(() => AnsiConsole.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                         new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    _task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1));
                    _ready.Set();
                    _finished.Wait();
                    _task.Value = _task.MaxValue;
                }))
            { IsBackground = true, Name = "progress" };
            _thread.Start();
            _ready.Wait();
        }

        public void Update(int value, string description)
        {
            _task!.Value = value;
            _task.Description = Markup.Escape(description);
        }

        public void Dispose()
        {
            _finished.Set();
            _thread.Join();
            _ready.Dispose();
            _finished.Dispose();
        }
    }
}
