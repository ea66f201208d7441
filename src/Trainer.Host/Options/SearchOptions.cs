using Microsoft.Extensions.Options;

namespace Trainer.Host.Options;

/// <summary>The "Search" configuration section of `trainer search` (per-layer keep ratios under a MACs budget).</summary>
public sealed class SearchOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Search";

    /// <summary>Accepted values of <see cref="Method"/>.</summary>
    public static readonly IReadOnlyList<string> Methods = ["amc", "genetic", "annealing", "netadapt", "autocompress"];

    /// <summary>Accepted values of <see cref="AdmmNorm"/>.</summary>
    public static readonly IReadOnlyList<string> AdmmNorms = ["l1", "l2"];

    /// <summary>Accepted values of <see cref="Reward"/>.</summary>
    public static readonly IReadOnlyList<string> Rewards = ["accuracy", "error-log-macs", "error-log-params"];

    /// <summary>"amc" (AMC's DDPG agent), "genetic", "annealing" (NNI's simulated annealing, its default schedule),
    /// "netadapt" (NNI's NetAdaptPruner: one group narrowed per iteration, candidates finetuned briefly) or "autocompress"
    /// (NNI's AutoCompressPruner: rounds of annealing then ADMM).</summary>
    public string Method { get; set; } = "amc";

    /// <summary>MACs the pruned model may keep, as a fraction of the model's, in (0, 1).</summary>
    public double TargetFlopsRatio { get; set; } = 0.5;

    /// <summary>Smallest fraction of its width any group keeps (AMC: 0.2).</summary>
    public double LayerFloor { get; set; } = 0.2;

    /// <summary>Kept counts are multiples of this (1 = any count).</summary>
    public int RoundTo { get; set; } = 1;

    /// <summary>"accuracy", "error-log-macs" or "error-log-params".</summary>
    public string Reward { get; set; } = "accuracy";

    /// <summary>AMC: episodes, and how many of them act at random first.</summary>
    public int Episodes { get; set; } = 120;

    /// <summary>AMC: warm-up episodes of random actions.</summary>
    public int WarmupEpisodes { get; set; } = 30;

    /// <summary>Genetic: individuals per generation.</summary>
    public int Population { get; set; } = 12;

    /// <summary>Genetic: generations.</summary>
    public int Generations { get; set; } = 10;

    /// <summary>NetAdapt: the MACs each iteration removes, as a fraction of the model's (NNI: 0.05).</summary>
    public double NetAdaptStep { get; set; } = 0.05;

    /// <summary>NetAdapt: training steps of each candidate's short-term finetuning (at Trainer:BatchSize).</summary>
    public int FinetuneSteps { get; set; } = 20;

    /// <summary>AMC, genetic, annealing: training steps (at Trainer:BatchSize, plain SGD at <see cref="FinetuneLearningRate"/>)
    /// each pruned copy gets before it is scored, NetAdapt's short-term finetuning as their reward. 0, the default, scores
    /// it untrained, as AMC does; a few dozen steps rank policies by what they train to rather than by what pruning alone left
    /// (on a trained residual net the untrained score is near chance at a tight budget), at the cost of the steps per trial.</summary>
    public int RewardFinetuneSteps { get; set; }

    /// <summary>AMC, genetic, annealing: how many of the search's best distinct policies are scored again after
    /// <see cref="FinalistFinetuneSteps"/> training steps each, the best of them becoming the result (0, the default: the search's
    /// own best). The search's reward ranks the many trials; a longer finetuning of the few best predicts better what finetuning
    /// will make of them (measured: <see cref="RewardFinetuneSteps"/> 50 and 10 finalists at 200 steps beat the uniform ratio
    /// before and after a finetune epoch on both of the RatioSearch benchmark's trained models).</summary>
    public int Finalists { get; set; }

    /// <summary>Training steps (at Trainer:BatchSize, plain SGD at <see cref="FinetuneLearningRate"/>) of each finalist before
    /// it is scored again.</summary>
    public int FinalistFinetuneSteps { get; set; } = 50;

    /// <summary>NetAdapt, <see cref="RewardFinetuneSteps"/> and <see cref="Finalists"/>: learning rate of the short-term finetuning (plain SGD, as NNI's
    /// example finetuner).</summary>
    public double FinetuneLearningRate { get; set; } = 0.01;

    /// <summary>AutoCompress: rounds of annealing then ADMM (NNI's total_iteration; its example: 3).</summary>
    public int AutoCompressRounds { get; set; } = 3;

    /// <summary>AutoCompress: ADMM iterations per round (NNI's example: 10).</summary>
    public int AdmmIterations { get; set; } = 10;

    /// <summary>AutoCompress: training steps of each ADMM W-step; 0 = one whole epoch (NNI: training_epochs = 1).</summary>
    public int AdmmSteps { get; set; }

    /// <summary>AutoCompress: learning rate of the ADMM W-steps (plain SGD).</summary>
    public double AdmmLearningRate { get; set; } = 0.01;

    /// <summary>AutoCompress: ADMM's penalty ρ (NNI: 1e-4).</summary>
    public double AdmmRho { get; set; } = 1e-4;

    /// <summary>AutoCompress: how ADMM ranks a group's channels, "l1" (NNI's coarse-grained ADMM) or "l2".</summary>
    public string AdmmNorm { get; set; } = "l1";

    /// <summary>Training samples each pruned copy is scored on (never the validation set).</summary>
    public int HeldOutSamples { get; set; } = 2000;

    /// <summary>Training batches (of Trainer:BatchSize) each pruned copy's BatchNorm statistics are re-estimated on before it
    /// is scored (EagleEye's adaptive BatchNorm); 0, the default, scores it with the statistics it had, as AMC and NNI do.</summary>
    public int BatchNormBatches { get; set; }

    /// <summary>How each trial prunes its copy: "l1", "l2" or "fpgm" (built in: each group keeps the channels whose filters score
    /// highest by that criterion, nothing refitted) or a loaded compressor that takes per-group keep ratios, e.g. "channel-pruning" (LASSO
    /// selection and least-squares reconstruction; AMC's environment also reconstructs each pruned layer). AMC, genetic and
    /// annealing only: NetAdapt and AutoCompress train their candidates.</summary>
    public string Pruner { get; set; } = "l1";

    /// <summary>Settings of a compressor <see cref="Pruner"/>, as its Compression:Settings (e.g. method = lasso,
    /// trainset_ratio = 0.01); the compressor checks them at the start of the search.</summary>
    public Dictionary<string, string> PrunerSettings { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Seed of the search (the same seed repeats the same search).</summary>
    public int Seed { get; set; }

    /// <summary>Accepted values of <see cref="Runner"/>.</summary>
    public static readonly IReadOnlyList<string> Runners = ["in-process", "local", "slurm"];

    /// <summary>Where trials run: "in-process" (one after another in this process), "local" (a pool of
    /// <see cref="Workers"/> worker processes on this machine) or "slurm" (Slurm job arrays, <see cref="Slurm"/>). The
    /// results are the same.</summary>
    public string Runner { get; set; } = "in-process";

    /// <summary>Local runner: worker processes running trials at once.</summary>
    public int Workers { get; set; } = 2;

    /// <summary>Local runner: threads each worker computes with.</summary>
    public int ThreadsPerWorker { get; set; } = 1;

    /// <summary>Attempts per trial: a trial whose worker crashed or failed is tried again up to this many times.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Slurm runner: partition, parallelism, CPUs, time limit, polling, the shared folder.</summary>
    public SearchSlurmOptions Slurm { get; set; } = new();

    /// <summary>Configuration keys of this section that say how trials run, not what they compute: left out of trial specs,
    /// so a spec is the same whichever runner runs it.</summary>
    public static readonly IReadOnlyList<string> RunnerKeys = ["Runner", "Workers", "ThreadsPerWorker", "MaxAttempts", "Slurm"];
}

/// <summary>Checks the Search section at start-up.</summary>
public sealed class SearchOptionsValidator : IValidateOptions<SearchOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, SearchOptions o)
    {
        var errors = new List<string>();
        if (!SearchOptions.Methods.Contains(o.Method, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Search:Method = '{o.Method}' is invalid; accepted: {string.Join(", ", SearchOptions.Methods)}.");
        AutoPruneSettingsValidator.Check(o, errors);
        if (o.TargetFlopsRatio is <= 0 or >= 1 || double.IsNaN(o.TargetFlopsRatio))
            errors.Add($"Search:TargetFlopsRatio = {o.TargetFlopsRatio} is invalid; accepted: a fraction of the MACs in (0, 1), e.g. 0.5.");
        if (o.LayerFloor is <= 0 or > 1 || double.IsNaN(o.LayerFloor))
            errors.Add($"Search:LayerFloor = {o.LayerFloor} is invalid; accepted: a fraction of a group's width in (0, 1], e.g. 0.2.");
        if (o.RoundTo < 1)
            errors.Add($"Search:RoundTo = {o.RoundTo} is invalid; accepted: 1 (any count) or a multiple such as 8.");
        if (!SearchOptions.Rewards.Contains(o.Reward, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Search:Reward = '{o.Reward}' is invalid; accepted: {string.Join(", ", SearchOptions.Rewards)}.");
        if (o.Episodes < 1 || o.WarmupEpisodes < 0 || o.WarmupEpisodes > o.Episodes)
            errors.Add($"Search:Episodes = {o.Episodes} with Search:WarmupEpisodes = {o.WarmupEpisodes} is invalid; accepted: 1 or more episodes, of which 0 to all warm up.");
        if (o.Population < 2 || o.Generations < 1)
            errors.Add($"Search:Population = {o.Population}, Search:Generations = {o.Generations} is invalid; accepted: a population of 2 or more and 1 or more generations.");
        if (!SearchOptions.Runners.Contains(o.Runner, StringComparer.OrdinalIgnoreCase))
            errors.Add($"Search:Runner = '{o.Runner}' is invalid; accepted: {string.Join(", ", SearchOptions.Runners)}.");
        if (o.Workers < 1)
            errors.Add($"Search:Workers = {o.Workers} is invalid; accepted: 1 or more worker processes, e.g. 2.");
        if (o.ThreadsPerWorker < 1)
            errors.Add($"Search:ThreadsPerWorker = {o.ThreadsPerWorker} is invalid; accepted: 1 or more threads, e.g. 1.");
        if (o.MaxAttempts < 1)
            errors.Add($"Search:MaxAttempts = {o.MaxAttempts} is invalid; accepted: 1 or more attempts per trial, e.g. 3.");
        if (o.Runner.Equals("slurm", StringComparison.OrdinalIgnoreCase))
            errors.AddRange(o.Slurm.Errors());
        if (o.BatchNormBatches < 0)
            errors.Add($"Search:BatchNormBatches = {o.BatchNormBatches} is invalid; accepted: 0 (off) or a number of training batches.");
        else if (o.BatchNormBatches > 0 && TrainsItsCandidates(o.Method) is { } m)
            errors.Add($"Search:BatchNormBatches = {o.BatchNormBatches} does not apply to Search:Method = '{m}', which trains its candidates (their " +
                       "BatchNorm statistics follow); set it to 0, or use amc, genetic or annealing.");
        if (o.RewardFinetuneSteps < 0)
            errors.Add($"Search:RewardFinetuneSteps = {o.RewardFinetuneSteps} is invalid; accepted: 0 (trials scored untrained) or a number of training steps.");
        else if (o.RewardFinetuneSteps > 0 && TrainsItsCandidates(o.Method) is { } fm)
            errors.Add($"Search:RewardFinetuneSteps = {o.RewardFinetuneSteps} does not apply to Search:Method = '{fm}', which trains its candidates " +
                       "itself (NetAdapt: Search:FinetuneSteps); set it to 0, or use amc, genetic or annealing.");
        else if (o.RewardFinetuneSteps > 0 && o.BatchNormBatches > 0)
            errors.Add($"Search:RewardFinetuneSteps = {o.RewardFinetuneSteps} with Search:BatchNormBatches = {o.BatchNormBatches}: a finetuned copy's " +
                       "BatchNorm statistics follow its training; set one of them to 0.");
        else if (o.RewardFinetuneSteps > 0 && !string.IsNullOrWhiteSpace(o.Pruner) && !o.Pruner.Equals("l1", StringComparison.OrdinalIgnoreCase))
            errors.Add($"Search:RewardFinetuneSteps = {o.RewardFinetuneSteps} with Search:Pruner = '{o.Pruner}': finetuned trials are L1-pruned " +
                       "(as NetAdapt's); set Search:Pruner to l1, or RewardFinetuneSteps to 0.");
        if (o.Finalists < 0)
            errors.Add($"Search:Finalists = {o.Finalists} is invalid; accepted: 0 (the search's own best policy) or a number of policies to score again, e.g. 10.");
        else if (o.Finalists > 0 && TrainsItsCandidates(o.Method) is { } lm)
            errors.Add($"Search:Finalists = {o.Finalists} does not apply to Search:Method = '{lm}', which trains its candidates itself; " +
                       "set it to 0, or use amc, genetic or annealing.");
        else if (o.Finalists > 0 && o.FinalistFinetuneSteps < 1)
            errors.Add($"Search:FinalistFinetuneSteps = {o.FinalistFinetuneSteps} is invalid with Search:Finalists = {o.Finalists}; accepted: 1 or more " +
                       "training steps per finalist, e.g. 50.");
        else if (o.Finalists > 0 && !string.IsNullOrWhiteSpace(o.Pruner) && !o.Pruner.Equals("l1", StringComparison.OrdinalIgnoreCase))
            errors.Add($"Search:Finalists = {o.Finalists} with Search:Pruner = '{o.Pruner}': finalists are L1-pruned and finetuned (as NetAdapt's " +
                       "candidates); set Search:Pruner to l1, or Finalists to 0.");
        if (string.IsNullOrWhiteSpace(o.Pruner))
            errors.Add("Search:Pruner is empty; accepted: l1, l2, fpgm (built in) or the name of a loaded compressor that takes per-group keep ratios, e.g. channel-pruning.");
        else if (!o.Pruner.Equals("l1", StringComparison.OrdinalIgnoreCase) && TrainsItsCandidates(o.Method) is { } pm)
            errors.Add($"Search:Pruner = '{o.Pruner}' does not apply to Search:Method = '{pm}', which prunes and trains its candidates itself; " +
                       "set it to l1, or use amc, genetic or annealing.");
        if (o.HeldOutSamples < 1)
            errors.Add($"Search:HeldOutSamples = {o.HeldOutSamples} is invalid; accepted: a positive number of training samples.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>The method when it prunes and trains its candidates itself (netadapt, autocompress), so the trial scoring
    /// keys (BatchNormBatches, Pruner) do not apply to it; null otherwise.</summary>
    private static string? TrainsItsCandidates(string? method) =>
        method is not null && (method.Equals("netadapt", StringComparison.OrdinalIgnoreCase) || method.Equals("autocompress", StringComparison.OrdinalIgnoreCase))
            ? method : null;
}
