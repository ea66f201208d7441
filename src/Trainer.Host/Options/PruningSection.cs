using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.Schedules;

namespace Trainer.Host.Options;

/// <summary>
/// The "Trainer:Pruning" section: pruning while `trainer train` (and the train stage of `trainer run`) trains, as
/// Lightning's ModelPruning callback does. Kind none (the default) trains densely.
/// </summary>
public sealed class PruningSection
{
    /// <summary>none, agp, linear or lottery-ticket.</summary>
    public string Kind { get; set; } = "none";
    /// <summary>agp/linear: sparsity reached at End, in [0, 1).</summary>
    public double FinalSparsity { get; set; }
    /// <summary>agp/linear: sparsity of the first pruning, at Start.</summary>
    public double InitialSparsity { get; set; }
    /// <summary>agp/linear: what Start, End and Frequency count: epoch (completed epochs) or step (optimizer steps).</summary>
    public string Unit { get; set; } = "epoch";
    /// <summary>agp/linear: first pruning.</summary>
    public long Start { get; set; }
    /// <summary>agp/linear: last pruning; with Unit epoch at most Trainer:Epochs − 1, so an epoch trains at the final sparsity.</summary>
    public long End { get; set; }
    /// <summary>agp/linear: epochs or steps between prunings.</summary>
    public long Frequency { get; set; } = 1;
    /// <summary>level (entries by magnitude), or a channel pruner: l1-norm, l2-norm, fpgm, slim, apoz, mean-activation, taylor-fo.</summary>
    public string Pruner { get; set; } = "level";
    /// <summary>apoz, mean-activation, taylor-fo: training batches (steps) collected before each pruning.</summary>
    public int TrainingSteps { get; set; } = 20;
    /// <summary>slim: λ of λ·Σ|γ| added to the loss (NNI's default 0.0001).</summary>
    public double SlimLambda { get; set; } = 0.0001;
    /// <summary>apoz, mean-activation: relu, gelu or relu6 applied to each layer's output.</summary>
    public string Activation { get; set; } = "relu";
    /// <summary>level: rank the entries of all layers together.</summary>
    public bool Global { get; set; }
    /// <summary>Layer types to prune; empty = Conv2d and Linear.</summary>
    public List<string> OpTypes { get; set; } = [];
    /// <summary>Module paths to prune; empty = every layer of OpTypes.</summary>
    public List<string> OpNames { get; set; } = [];
    /// <summary>Module paths to leave dense.</summary>
    public List<string> ExcludeOpNames { get; set; } = [];
    /// <summary>lottery-ticket: fraction of the remaining entries each round prunes, in (0, 1).</summary>
    public double PruneFraction { get; set; } = 0.2;
    /// <summary>lottery-ticket: rounds.</summary>
    public int Rounds { get; set; } = 1;
    /// <summary>lottery-ticket: epochs per round.</summary>
    public int EpochsPerRound { get; set; } = 1;
    /// <summary>lottery-ticket: step whose weights survivors are rewound to (0 = initial weights).</summary>
    public long RewindStep { get; set; }
    /// <summary>Make the pruning permanent when training ends and write the sparse export (sparse.weights).</summary>
    public bool MakePermanent { get; set; } = true;

    /// <summary>The Core configuration these keys describe.</summary>
    public PruningConfig ToConfig() => new()
    {
        Kind = Kind.ToLowerInvariant(), FinalSparsity = FinalSparsity, InitialSparsity = InitialSparsity,
        Unit = Unit.Equals("step", StringComparison.OrdinalIgnoreCase) ? ScheduleUnit.Step : ScheduleUnit.Epoch,
        Start = Start, End = End, Frequency = Frequency, Pruner = Pruner.ToLowerInvariant(), TrainingSteps = TrainingSteps, SlimLambda = SlimLambda,
        Activation = Activation.ToLowerInvariant(), Global = Global, OpTypes = OpTypes,
        OpNames = OpNames, ExcludeOpNames = ExcludeOpNames, PruneFraction = PruneFraction, Rounds = Rounds, EpochsPerRound = EpochsPerRound,
        RewindStep = RewindStep, MakePermanent = MakePermanent,
    };

    /// <summary>Every problem of the section, each naming its key and what it accepts; <paramref name="epochs"/> is Trainer:Epochs.</summary>
    public IEnumerable<string> Errors(int epochs)
    {
        const string key = "Trainer:Pruning:";
        var kind = Kind.ToLowerInvariant();
        if (!PruningConfig.Kinds.Contains(kind))
        {
            yield return $"{key}Kind = '{Kind}' is invalid; accepted: {string.Join(", ", PruningConfig.Kinds)}.";
            yield break;
        }
        if (kind == "none") yield break;
        var pruner = Pruner.ToLowerInvariant();
        if (!PruningConfig.Pruners.Contains(pruner))
            yield return $"{key}Pruner = '{Pruner}' is invalid; accepted: {string.Join(", ", PruningConfig.Pruners)}.";
        if (TrainingSteps < 1)
            yield return $"{key}TrainingSteps = {TrainingSteps} is invalid; accepted: 1 or more training batches collected before each pruning.";
        if (!(SlimLambda >= 0 && double.IsFinite(SlimLambda)))
            yield return $"{key}SlimLambda = {SlimLambda} is invalid; accepted: a finite λ ≥ 0, e.g. 0.0001.";
        if (!ImportanceCriteria.Activations.Contains(Activation.ToLowerInvariant()))
            yield return $"{key}Activation = '{Activation}' is invalid; accepted: {string.Join(", ", ImportanceCriteria.Activations)}.";
        foreach (var type in OpTypes.Where(t => !PruningConfig.LayerTypes.Contains(t, StringComparer.OrdinalIgnoreCase)))
            yield return $"{key}OpTypes names '{type}'; accepted: {string.Join(", ", PruningConfig.LayerTypes)}.";
        if (Global && pruner != "level")
            yield return $"{key}Global = true needs Pruner = level: channels ({pruner}) are ranked within each layer.";
        if (kind == "lottery-ticket")
        {
            if (!(PruneFraction > 0 && PruneFraction < 1)) yield return $"{key}PruneFraction = {PruneFraction} is invalid; accepted: a fraction in (0, 1), e.g. 0.2.";
            if (Rounds < 1) yield return $"{key}Rounds = {Rounds} is invalid; accepted: 1 or more.";
            if (EpochsPerRound < 1) yield return $"{key}EpochsPerRound = {EpochsPerRound} is invalid; accepted: 1 or more.";
            if (RewindStep < 0) yield return $"{key}RewindStep = {RewindStep} is invalid; accepted: 0 (the initial weights) or a later step.";
            if (Rounds >= 1 && EpochsPerRound >= 1 && (long)Rounds * EpochsPerRound >= epochs)
                yield return $"{key}Rounds × EpochsPerRound = {(long)Rounds * EpochsPerRound} leaves no epoch to train the last ticket in Trainer:Epochs = {epochs}; " +
                             "accepted: fewer rounds or more epochs.";
            yield break;
        }
        if (Start == 0 && InitialSparsity > 0 && pruner is "apoz" or "mean-activation" or "taylor-fo")
            yield return $"{key}Start = 0 with InitialSparsity = {InitialSparsity} is invalid with Pruner = {pruner}: it ranks by the training batches " +
                         "before a pruning and none runs before the first; accepted: Start ≥ 1, or InitialSparsity = 0.";
        if (!(FinalSparsity >= 0 && FinalSparsity < 1))
            yield return $"{key}FinalSparsity = {FinalSparsity} is invalid; accepted: a fraction of the entries in [0, 1), e.g. 0.9.";
        else if (!(InitialSparsity >= 0 && InitialSparsity <= FinalSparsity))
            yield return $"{key}InitialSparsity = {InitialSparsity} is invalid; accepted: a fraction in [0, FinalSparsity].";
        var unit = Unit.ToLowerInvariant();
        if (unit is not ("epoch" or "step")) yield return $"{key}Unit = '{Unit}' is invalid; accepted: epoch, step.";
        if (Start < 0) yield return $"{key}Start = {Start} is invalid; accepted: 0 or more.";
        if (End < Start) yield return $"{key}End = {End} is invalid; accepted: at least Start ({Start}).";
        if (Frequency < 1) yield return $"{key}Frequency = {Frequency} is invalid; accepted: 1 or more {unit}s.";
        if (unit == "epoch" && End >= epochs)
            yield return $"{key}End = {End} is invalid with Unit epoch and Trainer:Epochs = {epochs}: the last pruning comes after epoch End, so " +
                         $"accepted: at most {epochs - 1}, leaving an epoch that trains and validates at the final sparsity.";
    }
}
