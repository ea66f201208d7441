using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>Settings of <see cref="ScheduledPruning"/>.</summary>
/// <param name="Schedule">The target sparsity over training.</param>
/// <param name="Unit">Whether the schedule counts optimizer steps or completed epochs.</param>
/// <param name="Global">Rank the entries of all targets together (<see cref="Prune.GlobalUnstructured"/>) instead of each
/// tensor on its own (<see cref="Prune.L1Unstructured{T}"/>).</param>
/// <param name="MakePermanentAtEnd">Call <see cref="Prune.Remove{T}"/> on every target when training ends (Lightning's
/// make_pruning_permanent); the checkpoints keep the masks.</param>
/// <param name="ChannelDim">When set, prune whole channels along this dim (<see cref="Prune.LnStructured{T}"/>): the sparsity
/// is then the fraction of channels, each tensor on its own.</param>
/// <param name="NormOrder">The norm that ranks channels (2 for L2, 1 for L1, ±infinity).</param>
/// <param name="Name">Tells apart the checkpoint states of two or more such callbacks in one run.</param>
/// <param name="Importance">When set, the criterion that ranks (NNI's pruners): level ranks entries as without it, every
/// other criterion prunes whole output channels (dim 0) of each target, the scheduled fraction of its channels, skipping
/// those already pruned. Not with <paramref name="ChannelDim"/>.</param>
public sealed record ScheduledPruningOptions(
    SparsitySchedule Schedule, ScheduleUnit Unit = ScheduleUnit.Epoch, bool Global = false, bool MakePermanentAtEnd = false,
    string? Name = null, long? ChannelDim = null, double NormOrder = 2, ImportanceOptions? Importance = null);

/// <summary>
/// Prunes the chosen tensors by magnitude while training, following a <see cref="SparsitySchedule"/> (Lightning's
/// ModelPruning callback with NNI's AGP or a linear schedule). At each pruning point the target count is PyTorch's
/// <c>round(s · entries)</c> of each tensor (of all of them when global) and the callback prunes exactly the difference
/// from what is already pruned, as a count of the remaining entries, so the sparsity equals the schedule's value at every
/// point and does not drift as fractions of fractions would.
/// </summary>
/// <remarks>
/// The masks live in the network (its state_dict), so a resumed run goes on from them; the callback's own state records
/// the last pruning point and the statistics a data-driven criterion collected so far. Create the callback, and so
/// reparametrise the targets, before a resumed run loads its checkpoint; give its <see cref="LossHooks"/> to the trainer.
/// </remarks>
public sealed class ScheduledPruning : TrainerCallback, Training.IBestCheckpointGate, ILossHookSource, IDisposable
{
    private readonly ScheduledPruningOptions _options;
    private readonly PruningTargets _targets;
    private readonly ImportanceTracker? _importance;
    private readonly ILogger _logger;
    private long? _lastPruned;

    /// <summary>Creates the callback and reparametrises each target with a mask of ones.</summary>
    public ScheduledPruning(IReadOnlyList<(torch.nn.Module Module, string Name)> targets, ScheduledPruningOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Global && options.ChannelDim is not null)
            throw new ArgumentException("Global pruning ranks single entries across tensors; channel pruning (ChannelDim) ranks each tensor's channels. Choose one.", nameof(options));
        ArgumentNullException.ThrowIfNull(targets);
        // Checked before the targets are reparametrised, so a refused callback changes nothing.
        if (options.ChannelDim is { } dim)
            foreach (var (module, name) in targets)
                if (Prune.TensorOf(module, name).shape is var shape && (dim < 0 || dim >= shape.Length || shape.Length < 2))
                    throw new ArgumentException(
                        $"Channel pruning along dim {dim} needs a tensor of at least 2 dims that has it; '{name}' has shape " +
                        $"[{string.Join(", ", shape)}]. Leave ChannelDim null to prune single entries.", nameof(options));
        var structured = options.Importance is { } importance && ImportanceCriteria.IsStructured(importance.Criterion);
        if (options.Importance is { } checkedImportance)
        {
            checkedImportance.Check();
            if (structured && (options.Global || options.ChannelDim is not null))
                throw new ArgumentException($"{ImportanceCriteria.NameOf(checkedImportance.Criterion)} ranks each target's output channels; " +
                                            "leave Global false and ChannelDim null.", nameof(options));
            if (structured)
                foreach (var (module, name) in targets)
                    if (Prune.TensorOf(module, name).dim() < 2)
                        throw new ArgumentException($"{ImportanceCriteria.NameOf(checkedImportance.Criterion)} prunes output channels; '{name}' of " +
                                                    $"{module.GetName()} has fewer than 2 dims. Prune weights only.", nameof(options));
            if (ImportanceCriteria.IsDataDriven(checkedImportance.Criterion) && checkedImportance.Criterion != ImportanceCriterion.Slim)
            {
                if (options.Schedule.Start == 0 && options.Schedule.InitialSparsity > 0)
                    throw new ArgumentException($"{ImportanceCriteria.NameOf(checkedImportance.Criterion)} ranks by the training batches before a pruning, " +
                                                "and none runs before counter 0: start at 1 or later, or with initial sparsity 0.", nameof(options));
                if (options.Unit == ScheduleUnit.Epoch && checkedImportance.BatchesPerEpoch < 1)
                    throw new ArgumentException($"{ImportanceCriteria.NameOf(checkedImportance.Criterion)} collects over the last batches of each pruning " +
                                                "epoch: give ImportanceOptions.BatchesPerEpoch (the training loader's BatchCount).", nameof(options));
            }
        }
        var scales = structured ? ImportanceTracker.FindScales(options.Importance!, targets) : null;
        _options = options;
        _targets = new PruningTargets(targets);
        _importance = structured ? new ImportanceTracker(options.Importance!, _targets, scales) : null;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public IReadOnlyList<ILossHook> LossHooks => _importance?.LossHooks ?? [];

    /// <inheritdoc />
    public override string StateKey => _options.Name is { } name ? $"{base.StateKey}/{name}" : base.StateKey;

    /// <summary>The counter value of the last pruning done, or null before the first.</summary>
    public long? LastPrunedAt => _lastPruned;

    /// <summary>The fraction of all targets' entries the masks prune now.</summary>
    public double Sparsity
    {
        get
        {
            long pruned = 0, entries = 0;
            for (int i = 0; i < _targets.Count; i++) { pruned += _targets.Pruned(i); entries += _targets.Entries(i); }
            return (double)pruned / entries;
        }
    }

    /// <inheritdoc />
    public override void OnTrainStart(ITrainingContext context)
    {
        // Counter 0 happens only on a fresh run; a resumed run's masks came with the checkpoint.
        if (context.GlobalStep == 0) PruneAt(0);
    }

    /// <inheritdoc />
    public override void OnEpochStart(ITrainingContext context) => OpenWindow(context, 0);

    /// <inheritdoc />
    public override void OnBeforeOptimizerStep(ITrainingContext context) => _importance?.BeforeOptimizerStep();

    /// <inheritdoc />
    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome)
    {
        if (_options.Unit == ScheduleUnit.Step) PruneAt(context.GlobalStep);
        OpenWindow(context, outcome.BatchIndex + 1);
    }

    // A data-driven criterion collects over the last TrainingSteps batches before each pruning point: decides whether the
    // coming batch (index nextBatch of the epoch, making step GlobalStep + 1) is one of them.
    private void OpenWindow(ITrainingContext context, int nextBatch)
    {
        if (_importance is not { Windowed: true } importance) return;
        var window = _options.Importance!.TrainingSteps;
        if (_options.Unit == ScheduleUnit.Step)
        {
            var step = context.GlobalStep + 1;
            importance.Open = _options.Schedule.NextPruningPoint(step) is { } point && point - step < window;
        }
        else
            importance.Open = _options.Schedule.IsPruningPoint(context.Epoch + 1L) && nextBatch >= _options.Importance.BatchesPerEpoch - window;
    }

    /// <inheritdoc />
    public override void OnEpochEnd(ITrainingContext context)
    {
        if (_options.Unit == ScheduleUnit.Epoch) PruneAt(context.Epoch + 1L);
    }

    /// <inheritdoc />
    public override void OnTrainEnd(ITrainingContext context)
    {
        if (_options.MakePermanentAtEnd) _targets.MakePermanent();
    }

    /// <summary>
    /// Only an epoch validated at the final sparsity may be the best checkpoint: after the last pruning (with epochs as the
    /// unit, from the epoch after it, as the epoch that ends with it was validated before it).
    /// </summary>
    public bool MayBeBest(ITrainingContext context) =>
        _lastPruned is { } last && last >= _options.Schedule.End && (_options.Unit == ScheduleUnit.Step || context.Epoch + 1L > last);

    /// <summary>Prunes to the schedule's sparsity at counter value <paramref name="t"/> if <paramref name="t"/> is a pruning point.</summary>
    public void PruneAt(long t)
    {
        var schedule = _options.Schedule;
        if (!schedule.IsPruningPoint(t)) return;
        var sparsity = schedule.SparsityAt(t);
        using var scope = torch.NewDisposeScope();
        if (_options.Global)
        {
            long entries = 0, pruned = 0;
            for (int i = 0; i < _targets.Count; i++) { entries += _targets.Entries(i); pruned += _targets.Pruned(i); }
            var more = TargetCount(sparsity, entries) - pruned;
            if (more > 0)
                Prune.GlobalUnstructured(_targets.Items, new L1Unstructured(PruningAmount.Count(more)),
                    Enumerable.Range(0, _targets.Count).ToDictionary(i => _targets.Items[i], _targets.Magnitudes));
        }
        else if (_importance is not null)
        {
            var counts = Enumerable.Range(0, _targets.Count)
                .Select(i => TargetCount(sparsity, _targets.Mask(i).shape[0]) - _targets.PrunedChannels(i, 0)).ToArray();
            if (counts.Any(c => c > 0))
            {
                var scores = _importance.ChannelScores($"Scheduled pruning at {_options.Unit.ToString().ToLowerInvariant()} {t}");
                for (int i = 0; i < _targets.Count; i++)
                    if (counts[i] > 0) _targets.PruneChannels(i, ChannelSelection.Smallest(scores[i], _targets.AliveChannels(i), counts[i]));
            }
            _importance.Reset();
        }
        else if (_options.ChannelDim is { } dim)
        {
            for (int i = 0; i < _targets.Count; i++)
            {
                var more = TargetCount(sparsity, _targets.Mask(i).shape[dim]) - _targets.PrunedChannels(i, dim);
                if (more > 0)
                    Prune.LnStructured(_targets.Items[i].Module, _targets.Items[i].Name, PruningAmount.Count(more), _options.NormOrder, dim,
                        _targets.Magnitudes(i));
            }
        }
        else
        {
            for (int i = 0; i < _targets.Count; i++)
            {
                var more = TargetCount(sparsity, _targets.Entries(i)) - _targets.Pruned(i);
                if (more > 0) Prune.L1Unstructured(_targets.Items[i].Module, _targets.Items[i].Name, PruningAmount.Count(more), _targets.Magnitudes(i));
            }
        }
        _lastPruned = t;
        _logger.LogInformation("Pruned to sparsity {Target:0.####} at {Unit} {T} (measured {Measured:0.####}).",
            sparsity, _options.Unit.ToString().ToLowerInvariant(), t, Sparsity);
    }

    /// <summary>PyTorch's count for a fraction of a tensor: Python's round, half to even.</summary>
    internal static long TargetCount(double sparsity, long entries) => (long)Math.Round(sparsity * entries, MidpointRounding.ToEven);

    /// <inheritdoc />
    public override JsonObject SaveState() => new() { ["last_pruned_at"] = _lastPruned, ["importance"] = _importance?.SaveState() };

    /// <inheritdoc />
    public override void LoadState(JsonObject state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _lastPruned = state["last_pruned_at"]?.GetValue<long>();
        _importance?.LoadState(state["importance"] as JsonObject);
    }

    /// <summary>Removes the hooks of a data-driven criterion and frees its statistics.</summary>
    public void Dispose() => _importance?.Dispose();
}
