using Trainer.Abstractions;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search.Trials;

/// <summary>
/// Runs finetuned-policy-score specs (NetAdapt candidates) on a loaded task: rebuilds the spec's base from its weights file and
/// edits (<see cref="TrialBase.Rebuild"/>), then scores the policy with a <see cref="FinetuningPolicyScorer"/> over that base,
/// the same code the search runs in process, so the score is the same. The last base and the training loaders are kept: the
/// candidates of one NetAdapt iteration share a base, so a worker rebuilds it once per iteration.
/// </summary>
public sealed class FinetunedTrialScorer : IDisposable
{
    private readonly TrainingTask task;
    private readonly Func<nn.Module<Tensor, Tensor>> factory;
    private readonly long[] inputShape;
    private readonly IBatchLoader heldOut;
    private readonly Func<int, long, IBatchLoader> trainLoader;
    private readonly Dictionary<(int, long), IBatchLoader> loaders = [];
    private (TrialBase Base, nn.Module<Tensor, Tensor> Model)? cached;

    /// <summary>A scorer of finetuned candidates on <paramref name="task"/>.</summary>
    /// <param name="task">Trains and scores each candidate.</param>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="heldOut">Held-out training batches each candidate is scored on.</param>
    /// <param name="trainLoader">The training loader of a batch size and shuffle seed (e.g. the task's TrainLoader over the whole set).</param>
    public FinetunedTrialScorer(TrainingTask task, Func<nn.Module<Tensor, Tensor>> factory, long[] inputShape, IBatchLoader heldOut,
        Func<int, long, IBatchLoader> trainLoader)
    {
        this.task = task ?? throw new ArgumentNullException(nameof(task));
        this.factory = factory ?? throw new ArgumentNullException(nameof(factory));
        this.inputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        this.heldOut = heldOut ?? throw new ArgumentNullException(nameof(heldOut));
        this.trainLoader = trainLoader ?? throw new ArgumentNullException(nameof(trainLoader));
    }

    /// <summary>Bases rebuilt from their files so far.</summary>
    public int Rebuilt { get; private set; }

    /// <summary>The score of <paramref name="spec"/>'s policy pruned from its base and finetuned.</summary>
    /// <param name="spec">A spec with a <see cref="TrialSpec.Base"/>.</param>
    /// <param name="specPath">The spec's file, for the messages.</param>
    /// <exception cref="InvalidTrialSpecException">The spec has no base, or its base cannot be rebuilt (missing or replaced file,
    /// weights that do not fit).</exception>
    /// <exception cref="ArgumentException">The policy names a group the base lacks (parameter keptChannels).</exception>
    public PolicyScore Score(TrialSpec spec, string specPath)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var trialBase = spec.Base ?? throw new InvalidTrialSpecException($"The trial spec '{specPath}' names no base to finetune candidates from.");
        var model = BaseOf(trialBase, specPath);
        var finetune = trialBase.Finetune;
        var key = (finetune.BatchSize, finetune.LoaderSeed);
        if (!loaders.TryGetValue(key, out var train)) loaders[key] = train = trainLoader(finetune.BatchSize, finetune.LoaderSeed);
        using var scorer = new FinetuningPolicyScorer(task, factory, model, inputShape, train, heldOut, finetune.Training, spec.RoundTo, trialBase.Edits);
        return scorer.Score(spec.Policy);
    }

    private nn.Module<Tensor, Tensor> BaseOf(TrialBase trialBase, string specPath)
    {
        if (cached is { } c && c.Base.WeightsHash == trialBase.WeightsHash && c.Base.Weights == trialBase.Weights &&
            c.Base.Edits.SequenceEqual(trialBase.Edits, EditComparer.Instance))
            return c.Model;
        cached?.Model.Dispose();
        cached = null;
        var model = trialBase.Rebuild(factory, inputShape, specPath);
        // Kept across trials, each of which runs in a dispose scope of its own: the base's tensors belong to no scope.
        foreach (var p in model.parameters()) p.DetachFromDisposeScope();
        foreach (var b in model.buffers()) b.DetachFromDisposeScope();
        cached = (trialBase, model);
        Rebuilt++;
        return model;
    }

    /// <summary>Releases the cached base and the training loaders.</summary>
    public void Dispose()
    {
        cached?.Model.Dispose();
        cached = null;
        foreach (var loader in loaders.Values) (loader as IDisposable)?.Dispose();
        loaders.Clear();
    }

    // Edits are records holding dictionaries, whose equality is by reference: compare their JSON.
    private sealed class EditComparer : IEqualityComparer<Compression.ModelEdit>
    {
        public static readonly EditComparer Instance = new();
        public bool Equals(Compression.ModelEdit? x, Compression.ModelEdit? y) => Text(x) == Text(y);
        public int GetHashCode(Compression.ModelEdit obj) => Text(obj).GetHashCode(StringComparison.Ordinal);
        private static string Text(Compression.ModelEdit? edit) => System.Text.Json.JsonSerializer.Serialize(edit);
    }
}
