using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>Settings of <see cref="LotteryTicket"/>.</summary>
/// <param name="PruneFraction">Fraction of the remaining entries each round prunes (PyTorch's rounding), so after r rounds
/// the sparsity is 1 − (1 − p)^r up to rounding.</param>
/// <param name="Rounds">How many rounds prune; later epochs train the last ticket.</param>
/// <param name="EpochsPerRound">Epochs of training in each round; a round ends at an epoch end.</param>
/// <param name="RewindStep">Optimizer step after which the weights to rewind to are recorded: 0 for the initial weights
/// (Frankle and Carbin), a few hundred for rewinding to an early point (Frankle et al., "Stabilizing the Lottery Ticket
/// Hypothesis").</param>
/// <param name="Global">Rank the entries of all targets together instead of each tensor on its own.</param>
/// <param name="Name">Tells apart the checkpoint states of two or more such callbacks in one run.</param>
/// <param name="MakePermanentAtEnd">Call <see cref="Prune.Remove{T}"/> on every target when training ends; the checkpoints keep the masks.</param>
/// <param name="Importance">When set to a criterion other than level, each round prunes that fraction of each target's
/// remaining output channels (dim 0), ranked by it; data-driven criteria collect over the last batches of the round's
/// last epoch (see <see cref="ImportanceOptions"/>).</param>
public sealed record LotteryTicketOptions(double PruneFraction, int Rounds, int EpochsPerRound, long RewindStep = 0, bool Global = false,
    string? Name = null, bool MakePermanentAtEnd = false, ImportanceOptions? Importance = null);

/// <summary>
/// Iterative magnitude pruning with rewinding (the lottery ticket procedure): records the targets' weights at
/// <see cref="LotteryTicketOptions.RewindStep"/>; at the end of each round prunes a fraction of the remaining entries by
/// magnitude (or that fraction of the remaining output channels by <see cref="LotteryTicketOptions.Importance"/>) and sets
/// the surviving entries back to the recorded values. Pruned entries stay zero through later training
/// because the mask multiplies them.
/// </summary>
/// <remarks>
/// The recorded weights are in the callback's checkpoint state (float32, exact), the masks in the network's state_dict,
/// so a resumed run goes on exactly. The optimizer's state (momentum) is not rewound; with momentum its buffers carry
/// over into the next round.
/// </remarks>
public sealed class LotteryTicket : TrainerCallback, Training.IBestCheckpointGate, ILossHookSource, IDisposable
{
    private readonly LotteryTicketOptions _options;
    private readonly PruningTargets _targets;
    private readonly ImportanceTracker? _importance;
    private readonly ILogger _logger;
    private float[][]? _recorded;
    private int _roundsDone;

    /// <summary>Creates the callback and reparametrises each target with a mask of ones.</summary>
    public LotteryTicket(IReadOnlyList<(torch.nn.Module Module, string Name)> targets, LotteryTicketOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!(options.PruneFraction > 0 && options.PruneFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"A round prunes a fraction in (0, 1) of the remaining entries; got {options.PruneFraction}.");
        if (options.Rounds < 1 || options.EpochsPerRound < 1)
            throw new ArgumentOutOfRangeException(nameof(options), $"Rounds ({options.Rounds}) and epochs per round ({options.EpochsPerRound}) must be at least 1.");
        if (options.RewindStep < 0)
            throw new ArgumentOutOfRangeException(nameof(options), $"The rewind step {options.RewindStep} is negative; use 0 to rewind to the initial weights.");
        ArgumentNullException.ThrowIfNull(targets);
        var structured = options.Importance is { } importance && ImportanceCriteria.IsStructured(importance.Criterion);
        if (structured)
        {
            var criterion = options.Importance!.Criterion;
            options.Importance.Check();
            if (options.Global)
                throw new ArgumentException($"{ImportanceCriteria.NameOf(criterion)} ranks each target's output channels; leave Global false.", nameof(options));
            if (ImportanceCriteria.IsDataDriven(criterion) && criterion != ImportanceCriterion.Slim && options.Importance.BatchesPerEpoch < 1)
                throw new ArgumentException($"{ImportanceCriteria.NameOf(criterion)} collects over the last batches of each round: give " +
                                            "ImportanceOptions.BatchesPerEpoch (the training loader's BatchCount).", nameof(options));
            foreach (var (module, name) in targets)
                if (Prune.TensorOf(module, name).dim() < 2)
                    throw new ArgumentException($"{ImportanceCriteria.NameOf(criterion)} prunes output channels; '{name}' of {module.GetName()} has " +
                                                "fewer than 2 dims. Prune weights only.", nameof(options));
        }
        var scales = structured ? ImportanceTracker.FindScales(options.Importance!, targets) : null;
        _options = options;
        _targets = new PruningTargets(targets);
        _logger = logger ?? NullLogger.Instance;
        for (int i = 0; i < _targets.Count; i++)
            if (_targets.Original(i).dtype != torch.ScalarType.Float32)
                throw new ArgumentException($"'{_targets.Items[i].Name}' is {_targets.Original(i).dtype}; the lottery ticket records float32 weights. Prune before casting the model.");
        _importance = structured ? new ImportanceTracker(options.Importance!, _targets, scales) : null;
    }

    /// <inheritdoc />
    public IReadOnlyList<ILossHook> LossHooks => _importance?.LossHooks ?? [];

    /// <inheritdoc />
    public override string StateKey => _options.Name is { } name ? $"{base.StateKey}/{name}" : base.StateKey;

    /// <summary>Rounds pruned so far.</summary>
    public int RoundsDone => _roundsDone;

    /// <summary>The recorded weights of target <paramref name="i"/> (a copy), or null before they are recorded.</summary>
    public torch.Tensor? RecordedWeights(int i) =>
        _recorded is null ? null : torch.tensor(_recorded[i], _targets.Original(i).shape);

    /// <inheritdoc />
    public override void OnTrainStart(ITrainingContext context)
    {
        if (_recorded is null && context.GlobalStep == _options.RewindStep) Record();
    }

    /// <inheritdoc />
    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome)
    {
        if (_recorded is null && context.GlobalStep == _options.RewindStep) Record();
        OpenWindow(context, outcome.BatchIndex + 1);
    }

    /// <inheritdoc />
    public override void OnEpochStart(ITrainingContext context) => OpenWindow(context, 0);

    /// <inheritdoc />
    public override void OnBeforeOptimizerStep(ITrainingContext context) => _importance?.BeforeOptimizerStep();

    // A data-driven criterion collects over the last TrainingSteps batches of an epoch that ends a round.
    private void OpenWindow(ITrainingContext context, int nextBatch)
    {
        if (_importance is not { Windowed: true } importance) return;
        importance.Open = _roundsDone < _options.Rounds && (context.Epoch + 1) % _options.EpochsPerRound == 0 &&
                          nextBatch >= _options.Importance!.BatchesPerEpoch - _options.Importance.TrainingSteps;
    }

    /// <inheritdoc />
    public override void OnEpochEnd(ITrainingContext context)
    {
        if (_roundsDone >= _options.Rounds || (context.Epoch + 1) % _options.EpochsPerRound != 0) return;
        if (_recorded is null)
            throw new InvalidOperationException(
                $"A lottery-ticket round ended at step {context.GlobalStep}, before the weights to rewind to were recorded at step " +
                $"{_options.RewindStep}; lower LotteryTicketOptions.RewindStep or lengthen EpochsPerRound.");
        PruneRound();
        Rewind();
        _roundsDone++;
        _logger.LogInformation("Lottery ticket round {Round}/{Rounds}: pruned {Fraction:0.###} of the remaining weights and rewound the rest.",
            _roundsDone, _options.Rounds, _options.PruneFraction);
    }

    /// <summary>Only the last ticket, trained after the last round (whose epoch was validated before its pruning and rewind),
    /// may be the best checkpoint.</summary>
    public bool MayBeBest(ITrainingContext context) =>
        _roundsDone >= _options.Rounds && context.Epoch >= (long)_options.Rounds * _options.EpochsPerRound;

    /// <inheritdoc />
    public override void OnTrainEnd(ITrainingContext context)
    {
        if (_options.MakePermanentAtEnd) _targets.MakePermanent();
    }

    private void Record()
    {
        using var scope = torch.NewDisposeScope();
        _recorded = Enumerable.Range(0, _targets.Count)
            .Select(i => _targets.Original(i).detach().cpu().data<float>().ToArray()).ToArray();
    }

    private void PruneRound()
    {
        using var scope = torch.NewDisposeScope();
        if (_importance is not null)
        {
            // PyTorch's count for a fraction of what is left: round(p · remaining channels), half to even.
            var scores = _importance.ChannelScores($"Lottery ticket round {_roundsDone + 1}");
            for (int i = 0; i < _targets.Count; i++)
            {
                var alive = _targets.AliveChannels(i);
                var count = (long)Math.Round(_options.PruneFraction * alive.Count(a => a), MidpointRounding.ToEven);
                _targets.PruneChannels(i, ChannelSelection.Smallest(scores[i], alive, count));
            }
            _importance.Reset();
            return;
        }
        var fraction = PruningAmount.Fraction(_options.PruneFraction);
        if (_options.Global)
            Prune.GlobalUnstructured(_targets.Items, new L1Unstructured(fraction),
                Enumerable.Range(0, _targets.Count).ToDictionary(i => _targets.Items[i], _targets.Magnitudes));
        else
            for (int i = 0; i < _targets.Count; i++)
                Prune.L1Unstructured(_targets.Items[i].Module, _targets.Items[i].Name, fraction, _targets.Magnitudes(i));
    }

    private void Rewind()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.no_grad();
        for (int i = 0; i < _targets.Count; i++)
        {
            var original = _targets.Original(i);
            original.copy_(torch.tensor(_recorded![i], original.shape).to(original.device));
        }
    }

    /// <inheritdoc />
    public override JsonObject SaveState()
    {
        var state = new JsonObject { ["rounds_done"] = _roundsDone, ["importance"] = _importance?.SaveState() };
        if (_recorded is not null)
            state["recorded"] = new JsonArray(_recorded.Select(w =>
            {
                var bytes = new byte[w.Length * sizeof(float)];
                Buffer.BlockCopy(w, 0, bytes, 0, bytes.Length);
                return (JsonNode)JsonValue.Create(Convert.ToBase64String(bytes));
            }).ToArray());
        return state;
    }

    /// <inheritdoc />
    public override void LoadState(JsonObject state)
    {
        _roundsDone = state["rounds_done"]!.GetValue<int>();
        _importance?.LoadState(state["importance"] as JsonObject);
        if (state["recorded"] is not JsonArray recorded) { _recorded = null; return; }
        if (recorded.Count != _targets.Count)
            throw new InvalidOperationException(
                $"The checkpoint's lottery ticket recorded {recorded.Count} tensors, this callback prunes {_targets.Count}; resume with the same targets.");
        _recorded = recorded.Select((node, i) =>
        {
            var bytes = Convert.FromBase64String(node!.GetValue<string>());
            var weights = new float[bytes.Length / sizeof(float)];
            if (bytes.Length % sizeof(float) != 0 || weights.Length != _targets.Entries(i))
                throw new InvalidOperationException(
                    $"The checkpoint's lottery ticket recorded {weights.Length} weights for '{_targets.Items[i].Name}', which has {_targets.Entries(i)}; resume with the same targets.");
            Buffer.BlockCopy(bytes, 0, weights, 0, bytes.Length);
            return weights;
        }).ToArray();
    }

    /// <summary>Removes the hooks of a data-driven criterion and frees its statistics.</summary>
    public void Dispose() => _importance?.Dispose();
}
