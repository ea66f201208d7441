using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// Scheduled pruning described by plain values (what a configuration section holds): which kind, how sparse, when, by which
/// importance, on which layers. <see cref="CreateCallback"/> turns it into a <see cref="ScheduledPruning"/> or a
/// <see cref="LotteryTicket"/> on a network; the constructors of those check every value once more.
/// </summary>
public sealed record PruningConfig
{
    /// <summary>Accepted <see cref="Kind"/> values.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["none", "agp", "linear", "lottery-ticket"];

    /// <summary>Accepted <see cref="Pruner"/> values, NNI's pruners: level (single entries by magnitude); l1-norm, l2-norm,
    /// fpgm, slim, apoz, mean-activation and taylor-fo (whole output channels, <see cref="ImportanceCriterion"/>).</summary>
    public static readonly IReadOnlyList<string> Pruners = ImportanceCriteria.Names;

    /// <summary>Accepted <see cref="OpTypes"/> values.</summary>
    public static readonly IReadOnlyList<string> LayerTypes = ["Conv2d", "Linear"];

    /// <summary>none, agp (Zhu and Gupta's cubic schedule, NNI's AGP), linear, or lottery-ticket (iterative magnitude pruning with rewinding).</summary>
    public string Kind { get; init; } = "none";

    /// <summary>Sparsity reached at <see cref="End"/> (agp, linear): the fraction of entries (level), or of output channels.</summary>
    public double FinalSparsity { get; init; }

    /// <summary>Sparsity of the first pruning, at <see cref="Start"/> (agp, linear).</summary>
    public double InitialSparsity { get; init; }

    /// <summary>What <see cref="Start"/>, <see cref="End"/> and <see cref="Frequency"/> count: optimizer steps or completed epochs.</summary>
    public ScheduleUnit Unit { get; init; } = ScheduleUnit.Epoch;

    /// <summary>Counter value of the first pruning.</summary>
    public long Start { get; init; }

    /// <summary>Counter value of the last pruning.</summary>
    public long End { get; init; }

    /// <summary>Counter values between two prunings.</summary>
    public long Frequency { get; init; } = 1;

    /// <summary>The importance (<see cref="Pruners"/>), for every kind.</summary>
    public string Pruner { get; init; } = "level";

    /// <summary>apoz, mean-activation, taylor-fo: training batches (steps) collected before each pruning (NNI's training_steps).</summary>
    public int TrainingSteps { get; init; } = 20;

    /// <summary>slim: λ of the λ·Σ|γ| term added to the loss for the whole run (NNI's scale).</summary>
    public double SlimLambda { get; init; } = SlimRegularizer.DefaultScale;

    /// <summary>apoz, mean-activation: the activation applied to each layer's output (relu, gelu, relu6).</summary>
    public string Activation { get; init; } = "relu";

    /// <summary>Rank the entries of all layers together (level only; channels are ranked within each layer).</summary>
    public bool Global { get; init; }

    /// <summary>Layer types whose weights are pruned; empty = Conv2d and Linear.</summary>
    public IReadOnlyList<string> OpTypes { get; init; } = [];

    /// <summary>Module paths to prune ("conv1", "layer1.0.conv2"); empty = every layer of <see cref="OpTypes"/>.</summary>
    public IReadOnlyList<string> OpNames { get; init; } = [];

    /// <summary>Module paths left unpruned.</summary>
    public IReadOnlyList<string> ExcludeOpNames { get; init; } = [];

    /// <summary>Lottery ticket: fraction of the remaining entries each round prunes.</summary>
    public double PruneFraction { get; init; } = 0.2;

    /// <summary>Lottery ticket: rounds.</summary>
    public int Rounds { get; init; } = 1;

    /// <summary>Lottery ticket: epochs per round.</summary>
    public int EpochsPerRound { get; init; } = 1;

    /// <summary>Lottery ticket: optimizer step whose weights the survivors are rewound to.</summary>
    public long RewindStep { get; init; }

    /// <summary>Make the pruning permanent when training ends (weights hold the zeros, no masks).</summary>
    public bool MakePermanent { get; init; } = true;

    /// <summary>True unless <see cref="Kind"/> is none.</summary>
    public bool Enabled => !Kind.Equals("none", StringComparison.OrdinalIgnoreCase);

    /// <summary>The (module, "weight") pairs this configuration prunes in <paramref name="network"/>, in module order.</summary>
    /// <exception cref="ArgumentException">A name of <see cref="OpNames"/> or <see cref="ExcludeOpNames"/> is no module of the
    /// network, a named module is not of <see cref="OpTypes"/>, or nothing is left to prune.</exception>
    public IReadOnlyList<(torch.nn.Module Module, string Name)> Targets(torch.nn.Module network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var types = OpTypes.Count > 0 ? OpTypes : LayerTypes;
        var modules = network.named_modules().Where(m => m.name.Length > 0).ToList();
        bool OfType(torch.nn.Module m) => types.Any(t => t.Equals(m.GetType().Name, StringComparison.OrdinalIgnoreCase));
        foreach (var name in OpNames.Concat(ExcludeOpNames))
            if (!modules.Any(m => m.name == name))
                throw new ArgumentException($"'{name}' is no module of the network; its layers of types {string.Join(", ", types)} are " +
                                            string.Join(", ", modules.Where(m => OfType(m.module)).Select(m => m.name).Take(12)) + ".");
        foreach (var name in OpNames)
            if (!OfType(modules.Single(m => m.name == name).module))
                throw new ArgumentException($"'{name}' is a {modules.Single(m => m.name == name).module.GetType().Name}, not one of the pruned types {string.Join(", ", types)}.");
        var chosen = modules.Where(m => OfType(m.module) && (OpNames.Count == 0 || OpNames.Contains(m.name)) && !ExcludeOpNames.Contains(m.name))
            .Select(m => (m.module, "weight")).ToList();
        if (chosen.Count == 0) throw new ArgumentException($"No layer of types {string.Join(", ", types)} is left to prune in the network.");
        return chosen;
    }

    /// <summary>The callback that prunes <paramref name="targets"/> as configured (it reparametrises them now), or null for kind none.
    /// Create it before a resumed run loads its checkpoint, and give the trainer its loss hooks (<see cref="ILossHookSource"/>).</summary>
    /// <param name="targets">What to prune (<see cref="Targets"/>).</param>
    /// <param name="logger">Where pruning is reported.</param>
    /// <param name="training">What the data-driven pruners need of the run: <see cref="ImportanceOptions.BatchesPerEpoch"/>
    /// (apoz, mean-activation, taylor-fo with epochs as the unit or in a lottery ticket), <see cref="ImportanceOptions.Network"/>
    /// and <see cref="ImportanceOptions.InputShape"/> (slim); the criterion and collector settings come from this configuration.</param>
    public TrainerCallback? CreateCallback(IReadOnlyList<(torch.nn.Module Module, string Name)> targets, ILogger? logger = null,
        ImportanceOptions? training = null)
    {
        var kind = Kind.ToLowerInvariant();
        if (kind == "none") return null;
        var criterion = ImportanceCriteria.Find(Pruner) ?? throw new ArgumentException($"Unknown pruner '{Pruner}'; accepted: {string.Join(", ", Pruners)}.");
        var importance = (training ?? new ImportanceOptions()) with
        {
            Criterion = criterion, TrainingSteps = TrainingSteps, SlimLambda = SlimLambda, Activation = Activation.ToLowerInvariant(),
        };
        var structured = ImportanceCriteria.IsStructured(criterion);
        if (kind == "lottery-ticket")
            return new LotteryTicket(targets, new LotteryTicketOptions(PruneFraction, Rounds, EpochsPerRound, RewindStep, Global,
                MakePermanentAtEnd: MakePermanent, Importance: structured ? importance : null), logger);
        var schedule = kind switch
        {
            "agp" => SparsitySchedule.Agp(FinalSparsity, Start, End, Frequency, InitialSparsity),
            "linear" => SparsitySchedule.Linear(FinalSparsity, Start, End, Frequency, InitialSparsity),
            _ => throw new ArgumentException($"Unknown pruning kind '{Kind}'; accepted: {string.Join(", ", Kinds)}."),
        };
        return new ScheduledPruning(targets, new ScheduledPruningOptions(schedule, Unit, Global, MakePermanent,
            Importance: structured ? importance : null), logger);
    }

    /// <summary>Sparsity of <paramref name="targets"/> now: zero entries over all entries (of the masked weights while reparametrised).</summary>
    public static double Sparsity(IReadOnlyList<(torch.nn.Module Module, string Name)> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        long zeros = 0, entries = 0;
        foreach (var (module, name) in targets)
        {
            using var scope = torch.NewDisposeScope();
            using var _ = torch.no_grad();
            var mask = Prune.MethodOf(module, name) is null ? null : Reparametrization.MaskOf(module, name);
            var weight = mask is null ? Prune.TensorOf(module, name) : module.get_parameter(name + "_orig")! * mask;
            entries += weight.numel();
            zeros += weight.eq(0).sum().item<long>();
        }
        return entries == 0 ? 0 : (double)zeros / entries;
    }

    /// <summary>Makes the pruning of <paramref name="targets"/> permanent where it is not yet (a resumed run that had already
    /// finished never calls the callbacks' end), clearing the −0.0 entries <c>orig · mask</c> leaves.</summary>
    public static void MakeTargetsPermanent(IReadOnlyList<(torch.nn.Module Module, string Name)> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        foreach (var (module, name) in targets)
            if (Prune.MethodOf(module, name) is not null)
            {
                Prune.Remove(module, name);
                SparseWeightsFile.ClearNegativeZeros(Prune.TensorOf(module, name));
            }
    }
}
