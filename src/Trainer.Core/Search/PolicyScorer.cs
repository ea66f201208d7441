namespace Trainer.Core.Search;

/// <summary>The score of one policy: higher is better (an accuracy in [0, 1] for the error-based rewards), and the pruned
/// model's parameter count when the scorer built it (needed by <see cref="RewardKind.ErrorLogParams"/>).</summary>
/// <param name="Score">The task's score of the pruned copy, higher is better.</param>
/// <param name="Parameters">Parameters of the pruned copy, or null when the scorer did not build one.</param>
public sealed record PolicyScore(double Score, long? Parameters = null);

/// <summary>Scores a policy: per-group kept counts in, the score of the model pruned to them out (no finetuning).</summary>
public interface IPolicyScorer
{
    /// <summary>The score of the model when each group keeps <paramref name="keptChannels"/>[id] channels.</summary>
    /// <param name="keptChannels">Group id → kept count, every group of the search space.</param>
    PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels);

    /// <summary>The scores of a batch of policies, in their order. Searches hand over every policy they can score
    /// independently (a generation, a set of neighbours or layer candidates) in one call, so a scorer that runs trials in
    /// parallel (worker processes, a cluster) can; this default scores them one after another.</summary>
    /// <param name="policies">Each a map group id → kept count, every group of the search space.</param>
    IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
    {
        ArgumentNullException.ThrowIfNull(policies);
        return policies.Select(Score).ToList();
    }
}

/// <summary>Prunes copies of a model to a policy: the pruning a scorer scores, for whoever needs the pruned model itself (a
/// benchmark's test column, a finetuning).</summary>
public interface IPolicyPruner
{
    /// <summary>A copy of the model pruned to <paramref name="keptChannels"/> (group id → kept count), in eval mode; the caller
    /// disposes it. The model itself is not changed.</summary>
    TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor> PrunedCopy(IReadOnlyDictionary<string, int> keptChannels);
}

/// <summary>A scorer from a function (synthetic objectives, tests, a user's own evaluation).</summary>
public sealed class FuncPolicyScorer : IPolicyScorer
{
    private readonly Func<IReadOnlyDictionary<string, int>, double> score;

    /// <summary>Wraps <paramref name="score"/>.</summary>
    public FuncPolicyScorer(Func<IReadOnlyDictionary<string, int>, double> score) =>
        this.score = score ?? throw new ArgumentNullException(nameof(score));

    /// <inheritdoc />
    public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) => new(score(keptChannels));
}

/// <summary>What a search maximises (AMC's <c>env/rewards.py</c> and paper).</summary>
public enum RewardKind
{
    /// <summary>The score itself (AMC's acc_reward).</summary>
    Accuracy,
    /// <summary>−error · log(MACs), error = 1 − score (AMC's acc_flops_reward).</summary>
    ErrorLogMacs,
    /// <summary>−error · log(parameters), error = 1 − score.</summary>
    ErrorLogParams,
}

/// <summary>Turns a policy's score and cost into the reward of <see cref="RewardKind"/>.</summary>
public static class PolicyReward
{
    /// <summary>The reward of <paramref name="score"/> at <paramref name="macs"/>.</summary>
    /// <exception cref="ArgumentException">An error-based reward got a score outside [0, 1], or the parameter reward got a score
    /// without a parameter count.</exception>
    public static double Of(RewardKind kind, PolicyScore score, long macs)
    {
        ArgumentNullException.ThrowIfNull(score);
        if (kind == RewardKind.Accuracy) return score.Score;
        if (!(score.Score >= 0 && score.Score <= 1))
            throw new ArgumentException($"the {kind} reward needs an accuracy-like score in [0, 1]; the scorer gave {score.Score}. " +
                                        "Use the Accuracy reward for other scores", nameof(score));
        double error = 1 - score.Score;
        return kind switch
        {
            RewardKind.ErrorLogMacs => -error * Math.Log(Math.Max(1, macs)),
            RewardKind.ErrorLogParams => -error * Math.Log(Math.Max(1, score.Parameters ?? throw new ArgumentException(
                "the ErrorLogParams reward needs the pruned model's parameter count; this scorer gives none (TaskPolicyScorer does)",
                nameof(score)))),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown reward kind"),
        };
    }
}
