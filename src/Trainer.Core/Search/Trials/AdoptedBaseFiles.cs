namespace Trainer.Core.Search.Trials;

/// <summary>
/// NetAdapt's candidates as trials: keeps the weights file of the base a <see cref="FinetuningPolicyScorer"/> prunes its
/// candidates from (written into the trials folder at the start and after each <see cref="Adopt"/>), and makes each candidate's
/// spec name it (<see cref="SpecOf"/>), so any trial runner can score an iteration's candidates as one batch.
/// </summary>
public sealed class AdoptedBaseFiles
{
    private readonly FinetuningPolicyScorer scorer;
    private readonly string folder;
    private readonly TrialFinetune finetune;

    /// <summary>Writes <paramref name="scorer"/>'s current base into <paramref name="folder"/>.</summary>
    /// <param name="scorer">The search's scorer; its <see cref="FinetuningPolicyScorer.Adopt"/> goes through <see cref="Adopt"/>.</param>
    /// <param name="folder">The trials folder (seen by whatever runs the trials).</param>
    /// <param name="finetune">The scorer's finetuning (its options, the training loader's batch size and shuffle seed).</param>
    public AdoptedBaseFiles(FinetuningPolicyScorer scorer, string folder, TrialFinetune finetune)
    {
        this.scorer = scorer ?? throw new ArgumentNullException(nameof(scorer));
        ArgumentException.ThrowIfNullOrEmpty(folder);
        this.folder = folder;
        this.finetune = finetune ?? throw new ArgumentNullException(nameof(finetune));
        Current = TrialBase.Write(scorer, folder, finetune);
    }

    /// <summary>The base the next candidates are pruned from.</summary>
    public TrialBase Current { get; private set; }

    /// <summary>Adopts <paramref name="keptChannels"/>'s finetuned candidate as the base (<see cref="FinetuningPolicyScorer.Adopt"/>)
    /// and writes its weights file.</summary>
    public void Adopt(IReadOnlyDictionary<string, int> keptChannels)
    {
        scorer.Adopt(keptChannels);
        Current = TrialBase.Write(scorer, folder, finetune);
    }

    /// <summary>The spec of a candidate: <paramref name="template"/> (everything of the search but the policy) with the policy
    /// and the current base.</summary>
    public TrialSpec SpecOf(TrialSpec template, IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(keptChannels);
        return template.WithBase(Current) with { Policy = keptChannels };
    }
}
