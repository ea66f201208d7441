namespace Trainer.Host.Options;

/// <summary>Checks the Search keys of NetAdapt and AutoCompress (one message per bad key, naming it and what it accepts).</summary>
internal static class AutoPruneSettingsValidator
{
    /// <summary>Adds a message to <paramref name="errors"/> for each bad NetAdapt or AutoCompress key of <paramref name="o"/>.</summary>
    public static void Check(SearchOptions o, List<string> errors)
    {
        if (o.NetAdaptStep is <= 0 or >= 1 || double.IsNaN(o.NetAdaptStep))
            errors.Add($"Search:NetAdaptStep = {o.NetAdaptStep} is invalid; accepted: a fraction of the MACs in (0, 1), e.g. 0.05.");
        if (o.FinetuneSteps < 1)
            errors.Add($"Search:FinetuneSteps = {o.FinetuneSteps} is invalid; accepted: 1 or more training steps per NetAdapt candidate.");
        if (!(o.FinetuneLearningRate > 0) || !double.IsFinite(o.FinetuneLearningRate))
            errors.Add($"Search:FinetuneLearningRate = {o.FinetuneLearningRate} is invalid; accepted: a positive learning rate, e.g. 0.01.");
        if (o.AutoCompressRounds < 1)
            errors.Add($"Search:AutoCompressRounds = {o.AutoCompressRounds} is invalid; accepted: 1 or more rounds, e.g. 3.");
        if (o.AdmmIterations < 1)
            errors.Add($"Search:AdmmIterations = {o.AdmmIterations} is invalid; accepted: 1 or more ADMM iterations, e.g. 10.");
        if (o.AdmmSteps < 0)
            errors.Add($"Search:AdmmSteps = {o.AdmmSteps} is invalid; accepted: 0 (one epoch per ADMM iteration) or a positive number of steps.");
        if (!(o.AdmmLearningRate > 0) || !double.IsFinite(o.AdmmLearningRate))
            errors.Add($"Search:AdmmLearningRate = {o.AdmmLearningRate} is invalid; accepted: a positive learning rate, e.g. 0.01.");
        if (!(o.AdmmRho > 0) || !double.IsFinite(o.AdmmRho))
            errors.Add($"Search:AdmmRho = {o.AdmmRho} is invalid; accepted: a positive penalty, e.g. 1e-4.");
        if (!SearchOptions.AdmmNorms.Contains(o.AdmmNorm, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Search:AdmmNorm = '{o.AdmmNorm}' is invalid; accepted: {string.Join(", ", SearchOptions.AdmmNorms)}.");
    }
}
