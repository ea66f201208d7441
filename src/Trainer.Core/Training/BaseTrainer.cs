using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Checkpoints;
using TorchSharp;

namespace Trainer.Core.Training;

/// <summary>
/// The fixed training loop. Subclasses say how a batch becomes predictions and losses; the loop
/// owns epochs, validation, schedules, checkpoints, stopping and callbacks.
/// </summary>
/// <remarks>
/// Hook order of one epoch: OnEpochStart, then per batch OnBeforeBackward, OnBeforeOptimizerStep,
/// OnTrainBatchEnd; then OnValidationEnd, the schedule step, OnEpochEnd, the checkpoints and the
/// stop check. Each step runs inside its own dispose scope, so memory stays flat over long runs.
/// </remarks>
public abstract class BaseTrainer
{
    private readonly TrainingContext _context;
    private readonly List<TrainerCallback> _callbacks;
    private double? _best;

    /// <summary>Creates the trainer; nothing runs until <see cref="Run"/>.</summary>
    protected BaseTrainer(TrainerSetup setup)
    {
        Setup = setup;
        _context = new TrainingContext(setup);
        _callbacks = [.. setup.Callbacks];
        Logger = setup.Logger;
    }

    /// <summary>What the trainer was created with.</summary>
    protected TrainerSetup Setup { get; }

    /// <summary>The network being trained.</summary>
    protected torch.nn.Module<torch.Tensor, torch.Tensor> Network => Setup.Network;

    /// <summary>The device batches are moved to.</summary>
    protected torch.Device Device => Setup.Device;

    /// <summary>The loop's logger.</summary>
    protected ILogger Logger { get; }

    /// <summary>The live loop state callbacks also see.</summary>
    protected ITrainingContext Context => _context;

    /// <summary>Path of the checkpoint written after every epoch, or null without a checkpoint folder.</summary>
    public string? LastCheckpointPath => Setup.CheckpointDir is { } d ? Path.Combine(d, "last.ckpt") : null;

    /// <summary>Path of the checkpoint with the best monitored metric, or null without a checkpoint folder.</summary>
    public string? BestCheckpointPath => Setup.CheckpointDir is { } d ? Path.Combine(d, "best.ckpt") : null;

    /// <summary>Runs the network on a training batch (pick the inputs, move them to the device, call the network).</summary>
    protected abstract torch.Tensor GetTrainBatchPredictions(Batch batch);

    /// <summary>Runs the network on a validation batch; by default the same as training.</summary>
    protected virtual torch.Tensor GetValBatchPredictions(Batch batch) => GetTrainBatchPredictions(batch);

    /// <summary>Named training losses of a batch; must hold "total_loss", which backward runs on.</summary>
    protected abstract IReadOnlyDictionary<string, torch.Tensor> GetTrainLosses(torch.Tensor predictions, Batch batch);

    /// <summary>Named validation losses of a batch; must hold "total_loss". By default the training losses.</summary>
    protected virtual IReadOnlyDictionary<string, torch.Tensor> GetValLosses(torch.Tensor predictions, Batch batch) =>
        GetTrainLosses(predictions, batch);

    /// <summary>Per-batch validation metrics (batch means, e.g. accuracy); averaged over the pass by sample count.</summary>
    protected virtual IReadOnlyDictionary<string, double> GetValBatchMetrics(torch.Tensor predictions, Batch batch) =>
        new Dictionary<string, double>();

    /// <summary>
    /// Checked at each epoch end: the reason to stop, or null to go on. By default stops when the
    /// epochs are done, when a callback asked to stop, or when the rate fell below StopLr.
    /// </summary>
    protected virtual string? ShouldStop(ITrainingContext context)
    {
        if (context.StopReason is { } requested) return requested;
        if (Setup.Settings.StopLr > 0 && context.LearningRate < Setup.Settings.StopLr)
            return $"learning rate {context.LearningRate:g4} fell below StopLr {Setup.Settings.StopLr:g4}";
        if (Setup.Settings.MaxSteps > 0 && context.GlobalStep >= Setup.Settings.MaxSteps)
            return $"reached the configured {Setup.Settings.MaxSteps} steps";
        if (context.Epoch + 1 >= context.MaxEpochs) return $"reached the configured {context.MaxEpochs} epochs";
        return null;
    }

    /// <summary>
    /// Where oneDNN was found wrong on this CPU for some conv shapes, checks this network's convs at the batch sizes the
    /// run uses (training and validation, full and last partial batches) and runs it with oneDNN if they are all right
    /// (<see cref="Runtime.ConvKernels.ForModel"/>).
    /// </summary>
    private Runtime.ConvKernelScope ChooseConvKernels()
    {
        // Not checking (oneDNN is the process default, or another device): no scope. On the CPU, another training's scope
        // having turned oneDNN on is no reason to skip the check: this model's shapes may be the ones it gets wrong.
        if (Device.type != DeviceType.CPU || !Runtime.ConvKernels.ChecksModels)
            return Runtime.ConvKernels.ForModel(Network, [], []);
        var loaders = new[] { Setup.TrainLoader, Setup.ValLoader }.OfType<IBatchLoader>().Where(l => l.BatchCount > 0).ToList();
        long[]? inputShape = null;
        var batchSizes = new List<long>();
        using var peek = torch.NewDisposeScope();
        foreach (var loader in loaders)
        {
            // Loaders give the same batches for an epoch whatever was read before: peeking changes nothing.
            var first = loader.GetBatches(0).First();
            inputShape ??= first.Inputs.shape;
            batchSizes.Add(first.Size);
            batchSizes.Add(loader.SampleCount - (loader.BatchCount - 1L) * first.Size);
        }
        var scope = Runtime.ConvKernels.ForModel(Network, inputShape ?? [], batchSizes.Where(b => b > 0));
        Logger.LogInformation("{Kernels}", scope.Status);
        return scope;
    }

    /// <summary>Adds a callback after those given at creation.</summary>
    public void AddCallback(TrainerCallback callback) => _callbacks.Add(callback);

    /// <summary>
    /// Trains. With <paramref name="resume"/>, continues after the last completed epoch of the
    /// "last" checkpoint (an error if there is none or it does not fit).
    /// </summary>
    public TrainResult Run(bool resume = false)
    {
        if (Setup.Settings.ReuseNativeMemory) Runtime.NativeAllocator.KeepFreedMemoryForReuse(Logger);
        Network.to(Device);
        var startEpoch = resume ? Resume() : 0;
        // The stop check the unbroken run made after the checkpoint's epoch, made again: a run that had stopped there
        // (epochs done, a callback's request, StopLr, MaxSteps) ends as it did, with the same reason.
        if (startEpoch > 0 && ShouldStop(_context) is { } stopped)
        {
            Logger.LogInformation("Nothing to train: the checkpoint's run had stopped after epoch {Epoch}: {Reason}.", startEpoch, stopped);
            return Finish(stopped, startEpoch);
        }
        if (startEpoch >= Setup.Settings.Epochs)
        {
            var reason = $"the checkpoint already completed {startEpoch} of {Setup.Settings.Epochs} epochs";
            Logger.LogInformation("Nothing to train: {Reason}.", reason);
            return Finish(reason, startEpoch);
        }

        using var kernels = ChooseConvKernels();
        ForEachCallback(c => c.OnTrainStart(_context));
        string stopReason;
        int epoch = startEpoch;
        try
        {
            for (; ; epoch++)
            {
                _context.Epoch = epoch;
                ForEachCallback(c => c.OnEpochStart(_context));
                TrainEpoch(epoch);
                var validationLoss = Validate();
                Setup.Scheduler?.Step(epoch, validationLoss);
                _context.SetMetric("lr", _context.LearningRate);
                ForEachCallback(c => c.OnEpochEnd(_context));
                SaveCheckpoints(epoch);
                if (ShouldStop(_context) is { } reason) { stopReason = reason; break; }
            }
        }
        catch (Exception e)
        {
            ForEachCallback(c => c.OnException(_context, e));
            throw;
        }

        Logger.LogInformation("Training stopped after epoch {Epoch}: {Reason}.", epoch + 1, stopReason);
        ForEachCallback(c => c.OnTrainEnd(_context));
        return Finish(stopReason, epoch + 1);
    }

    private TrainResult Finish(string stopReason, int epochsCompleted)
    {
        if (Setup.EvalLoader is { } evalLoader)
        {
            var test = Evaluate(evalLoader, "test");
            _context.SetMetrics(test);
            Logger.LogInformation("Test: {Metrics}", FormatMetrics(test));
        }
        return new TrainResult(epochsCompleted, _context.GlobalStep, stopReason,
            new Dictionary<string, double>(_context.Metrics), _best);
    }

    private void TrainEpoch(int epoch)
    {
        Network.train();
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        long samples = 0;
        using var batches = Setup.TrainLoader.GetBatches(epoch).GetEnumerator();
        for (var index = 0; ; index++)
        {
            using var scope = torch.NewDisposeScope();
            if (!batches.MoveNext()) break;
            var outcome = TrainStep(batches.Current, index, epoch);
            foreach (var (name, value) in outcome.Losses)
                sums[name] = sums.GetValueOrDefault(name) + value * outcome.BatchSize;
            samples += outcome.BatchSize;
            _context.SetMetrics(outcome.Losses.Select(kv => KeyValuePair.Create("train/" + kv.Key, kv.Value)));
            ForEachCallback(c => c.OnTrainBatchEnd(_context, outcome));
            if (Setup.Settings.MaxSteps > 0 && _context.GlobalStep >= Setup.Settings.MaxSteps) break;
        }
        if (samples > 0)
            _context.SetMetrics(sums.Select(kv => KeyValuePair.Create("train/epoch_" + kv.Key, kv.Value / samples)));
    }

    private BatchOutcome TrainStep(Batch batch, int index, int epoch)
    {
        var predictions = GetTrainBatchPredictions(batch);
        var losses = GetTrainLosses(predictions, batch);
        TotalLoss(losses, nameof(GetTrainLosses));
        foreach (var hook in Setup.LossHooks)
        {
            losses = hook.Apply(new LossHookInput(Network, predictions, batch, Device, losses));
            TotalLoss(losses, $"the loss hook '{hook.Name}'");
        }
        var total = losses[LossNames.Total];
        var values = losses.ToDictionary(kv => kv.Key, kv => kv.Value.item<float>() is var v ? (double)v : 0);
        if (!double.IsFinite(values[LossNames.Total]))
            throw new NonFiniteLossException(epoch, index, _context.GlobalStep + 1, values[LossNames.Total], LastCheckpointPath);

        ForEachCallback(c => c.OnBeforeBackward(_context, total));
        Setup.Optimizer.zero_grad();
        total.backward();
        if (Setup.Settings.GradientClipNorm > 0)
            torch.nn.utils.clip_grad_norm_(Network.parameters(), Setup.Settings.GradientClipNorm);
        ForEachCallback(c => c.OnBeforeOptimizerStep(_context));
        Setup.Optimizer.step();
        _context.GlobalStep++;
        return new BatchOutcome(index, batch.Size, values);
    }

    /// <summary>Validates on the validation loader, records "val/..." metrics, returns the validation loss.</summary>
    private double? Validate()
    {
        if (Setup.ValLoader is not { } loader) return null;
        var metrics = Evaluate(loader, "val");
        _context.SetMetrics(metrics);
        ForEachCallback(c => c.OnValidationEnd(_context, metrics));
        return metrics["val/" + LossNames.Total];
    }

    /// <summary>Averages losses and metrics over one pass of <paramref name="loader"/> in eval mode, in inference mode (no autograd at all).</summary>
    protected Dictionary<string, double> Evaluate(IBatchLoader loader, string prefix)
    {
        Network.eval();
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        long samples = 0;
        using (torch.inference_mode())
        {
            using var batches = loader.GetBatches(0).GetEnumerator();
            for (; ; )
            {
                using var scope = torch.NewDisposeScope();
                if (!batches.MoveNext()) break;
                var batch = batches.Current;
                var predictions = GetValBatchPredictions(batch);
                var losses = GetValLosses(predictions, batch);
                TotalLoss(losses, nameof(GetValLosses));
                foreach (var (name, value) in losses)
                    sums[name] = sums.GetValueOrDefault(name) + value.item<float>() * batch.Size;
                var metrics = GetValBatchMetrics(predictions, batch);
                // One name, one figure: a metric named like a loss would be summed into it.
                if (metrics.Keys.FirstOrDefault(losses.ContainsKey) is { } clash)
                    throw new InvalidOperationException(
                        $"{nameof(GetValBatchMetrics)} returned the metric \"{clash}\", which {nameof(GetValLosses)} also returns as a loss; " +
                        $"both would be logged as \"{prefix}/{clash}\". Rename one, or leave the term out of {nameof(GetValLosses)}.");
                foreach (var (name, value) in metrics)
                    sums[name] = sums.GetValueOrDefault(name) + value * batch.Size;
                samples += batch.Size;
            }
        }
        Network.train();
        if (samples == 0) throw new InvalidOperationException($"The {prefix} loader yielded no batches.");
        return sums.ToDictionary(kv => $"{prefix}/{kv.Key}", kv => kv.Value / samples);
    }

    private static torch.Tensor TotalLoss(IReadOnlyDictionary<string, torch.Tensor> losses, string hook) =>
        losses.TryGetValue(LossNames.Total, out var total)
            ? total
            : throw new InvalidOperationException(
                $"{hook} returned the losses [{string.Join(", ", losses.Keys)}] without \"{LossNames.Total}\"; " +
                $"the dictionary must hold \"{LossNames.Total}\", the loss backward runs on.");

    private void SaveCheckpoints(int epoch)
    {
        var monitor = Setup.Settings.MonitorMetric;
        if (!_context.Metrics.TryGetValue(monitor, out var value))
            throw new InvalidOperationException(
                $"The monitored metric '{monitor}' (Trainer:MonitorMetric) was not logged. Logged metrics: " +
                string.Join(", ", _context.Metrics.Keys.Order()) + ".");
        var eligible = _callbacks.OfType<IBestCheckpointGate>().All(g => g.MayBeBest(_context));
        var improved = eligible && (_best is not { } best ||
            (Setup.Settings.MonitorMode == MetricMode.Min ? value < best : value > best));
        if (improved) _best = value;
        if (Setup.CheckpointDir is null) return;

        var state = new CheckpointState
        {
            Epoch = epoch,
            StopRequested = _context.StopReason,
            GlobalStep = _context.GlobalStep,
            Metrics = new Dictionary<string, double>(_context.Metrics),
            BestMetric = _best,
            Schedule = Setup.Scheduler?.SaveState(),
            Callbacks = _callbacks.Select(c => (c.StateKey, State: c.SaveState()))
                .Where(s => s.State is not null).ToDictionary(s => s.StateKey, s => s.State!),
            RngState = RandomState.Capture(),
        };
        // Best before last: a crash between the two leaves the previous "last", so a resumed run redoes this epoch and
        // writes the same "best" again. The other order could leave a "last" of this epoch without its "best".
        if (improved)
        {
            CheckpointFile.Save(BestCheckpointPath!, state, Network, Setup.Optimizer);
            IO.AtomicFile.Copy(BestCheckpointPath!, LastCheckpointPath!);
        }
        else
            CheckpointFile.Save(LastCheckpointPath!, state, Network, Setup.Optimizer);
        Logger.LogDebug("Checkpoint written for epoch {Epoch} ({Monitor}={Value:g5}, best {Best:g5}).",
            epoch + 1, monitor, value, _best);
    }

    private int Resume()
    {
        var path = LastCheckpointPath ?? throw new InvalidOperationException(
            "Resuming needs a checkpoint folder (Trainer:CheckpointDir).");
        // A directory in the checkpoint's place is not "no checkpoint": CheckpointFile says what is there.
        if (!File.Exists(path) && !Directory.Exists(path))
            throw new CheckpointException($"Cannot resume: no checkpoint at '{path}'. Run without --resume to start afresh.");
        var state = CheckpointFile.Load(path, Network, Setup.Optimizer);
        if (state.RngState is not { } rng || rng.Length != RandomState.Capture().Length)
            throw new CheckpointException($"Checkpoint '{path}' holds a random generator state of {state.RngState?.Length ?? 0} bytes, " +
                                          $"not the {RandomState.Capture().Length} of this build's generator; it is damaged or from another build.");
        if (state.Schedule is { } schedule) Setup.Scheduler?.LoadState(schedule);
        foreach (var callback in _callbacks)
            if (state.Callbacks.TryGetValue(callback.StateKey, out var s)) callback.LoadState(s);
        RandomState.Restore(state.RngState);
        _context.Epoch = state.Epoch;
        if (state.StopRequested is { } requested) _context.RequestStop(requested);
        _context.GlobalStep = state.GlobalStep;
        _context.SetMetrics(state.Metrics);
        _best = state.BestMetric;
        Logger.LogInformation("Resumed from '{Path}' after epoch {Epoch} (step {Step}).", path, state.Epoch + 1, state.GlobalStep);
        return state.Epoch + 1;
    }

    private void ForEachCallback(Action<TrainerCallback> call)
    {
        foreach (var callback in _callbacks) call(callback);
    }

    /// <summary>Formats metrics as "name=value" pairs for log lines.</summary>
    protected static string FormatMetrics(IReadOnlyDictionary<string, double> metrics) =>
        string.Join(" ", metrics.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value:0.####}"));
}
