using System.Globalization;
using Trainer.Abstractions;
using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Models;
using Trainer.Core.Pruning.Admm;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Core.Tasks;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>What `trainer search` builds from the Search section beside the search itself: the trial scorer (a pruner, or the
/// finetuning scorer of NetAdapt and of Search:RewardFinetuneSteps), the part of the journal fingerprint they add, and
/// AutoCompress's settings.</summary>
internal static class AutoPruneSearches
{
    /// <summary>The scorer that finetunes each candidate briefly on the training set at Trainer:BatchSize before scoring it on
    /// <paramref name="heldOut"/>: NetAdapt's, or AMC's, the GA's and SA's when Search:RewardFinetuneSteps is set; null otherwise.</summary>
    public static FinetuningPolicyScorer? FinetuningScorer(TrainingTask task, LoadedModel model, IBatchLoader heldOut, SearchOptions s, TrainerOptions t) =>
        FinetunesTrials(s) ? Finetuner(task, model, heldOut, s, TrialFinetune(s, t)) : null;

    /// <summary>The scorer of Search:Finalists: each finalist finetuned Search:FinalistFinetuneSteps steps, then scored on
    /// <paramref name="heldOut"/>.</summary>
    public static FinetuningPolicyScorer FinalistScorer(TrainingTask task, LoadedModel model, IBatchLoader heldOut, SearchOptions s, TrainerOptions t) =>
        Finetuner(task, model, heldOut, s, FinalistFinetune(s, t));

    /// <summary>The short-term finetuning of each candidate, as its trial specs carry it: Search:FinetuneSteps (NetAdapt) or
    /// Search:RewardFinetuneSteps (the others) of SGD at Search:FinetuneLearningRate seeded with Search:Seed, on training batches
    /// of Trainer:BatchSize shuffled with Search:Seed + 2.</summary>
    public static TrialFinetune TrialFinetune(SearchOptions s, TrainerOptions t) =>
        Finetune(s, t, IsNetAdapt(s) ? s.FinetuneSteps : s.RewardFinetuneSteps);

    /// <summary>The finalists' finetuning: as <see cref="TrialFinetune"/>, Search:FinalistFinetuneSteps steps.</summary>
    public static TrialFinetune FinalistFinetune(SearchOptions s, TrainerOptions t) => Finetune(s, t, s.FinalistFinetuneSteps);

    private static TrialFinetune Finetune(SearchOptions s, TrainerOptions t, int steps) =>
        Trainer.Core.Search.Trials.TrialFinetune.Of(new ShortTrainingOptions { Steps = steps, LearningRate = s.FinetuneLearningRate, Seed = s.Seed },
            t.BatchSize, s.Seed + 2);

    private static FinetuningPolicyScorer Finetuner(TrainingTask task, LoadedModel model, IBatchLoader heldOut, SearchOptions s, TrialFinetune finetune) =>
        new(task, model.Create, model.Network, model.InputShape, task.TrainLoader(finetune.BatchSize, finetune.LoaderSeed, 1.0), heldOut,
            finetune.Training, s.RoundTo, model.Manifest?.AllEdits);

    /// <summary>Scores finetuned trial specs (each names its base and finetuning) on <paramref name="heldOut"/>, training on
    /// the task's training batches: the search's and a trial worker's.</summary>
    public static FinetunedTrialScorer TrialCandidates(TrainingTask task, LoadedModel model, IBatchLoader heldOut) =>
        new(task, model.Create, model.InputShape, heldOut, (batch, seed) => task.TrainLoader(batch, seed, 1.0));

    /// <summary>Whether every trial finetunes its candidate: NetAdapt's always do; AMC's, the GA's and SA's with
    /// Search:RewardFinetuneSteps above 0.</summary>
    public static bool FinetunesTrials(SearchOptions s) => IsNetAdapt(s) || s.RewardFinetuneSteps > 0;

    /// <summary>Whether the search is NetAdapt.</summary>
    public static bool IsNetAdapt(SearchOptions s) => s.Method.Equals("netadapt", StringComparison.OrdinalIgnoreCase);

    /// <summary>What else the trials' scores depend on (NetAdapt's step and finetuning, a finetuned reward, BatchNorm
    /// re-estimation, a pruner other than l1): appended to the journal's fingerprint ("" when none applies).</summary>
    public static string FingerprintSuffix(SearchOptions s, TrainerOptions t) => (IsNetAdapt(s)
        ? string.Create(CultureInfo.InvariantCulture, $"; netadapt step {s.NetAdaptStep} finetune {s.FinetuneSteps} at {s.FinetuneLearningRate} batch {t.BatchSize}")
        : s.RewardFinetuneSteps > 0
            ? string.Create(CultureInfo.InvariantCulture, $"; reward finetune {s.RewardFinetuneSteps} at {s.FinetuneLearningRate} batch {t.BatchSize}")
            : "") + (s.BatchNormBatches > 0 ? string.Create(CultureInfo.InvariantCulture, $"; batchnorm {s.BatchNormBatches} x {t.BatchSize}") : "")
        + (s.Pruner.Equals("l1", StringComparison.OrdinalIgnoreCase) ? ""
            : $"; pruner {s.Pruner.ToLowerInvariant()} {{{string.Join(", ", s.PrunerSettings.OrderBy(p => p.Key, StringComparer.OrdinalIgnoreCase).Select(p => $"{p.Key.ToLowerInvariant()}={p.Value}"))}}}");

    /// <summary>The scorer of AMC's, the GA's and SA's trials: a copy pruned by Search:Pruner (a built-in selection, or a
    /// loaded compressor given the policy as keep ratios, sampling layers on training batches of Trainer:BatchSize shuffled
    /// with Search:Seed + 3), scored on <paramref name="heldOut"/>. Dispose the returned sampling loader with the search.</summary>
    /// <exception cref="JobException">Search:Pruner names no loaded compressor, one that sizes its layers itself, or
    /// Search:PrunerSettings it refuses.</exception>
    public static (IPolicyScorer Scorer, IDisposable? Samples) PolicyScorer(TrainingTask task, LoadedModel model, IBatchLoader heldOut,
        SearchOptions s, TrainerOptions t, int roundTo, BatchNormRecalibration? recalibration, Plugins.PluginLoader plugins)
    {
        if (BuiltInFilterScore(s.Pruner) is { } builtIn)
        {
            if (s.PrunerSettings.Count > 0)
                throw new JobException($"Search:PrunerSettings ({string.Join(", ", s.PrunerSettings.Keys)}) configure a compressor pruner; " +
                                       $"the built-in Search:Pruner = '{s.Pruner}' takes none: remove them, or name a compressor.");
            return (new TaskPolicyScorer(task, model.Create, model.Network, model.InputShape, heldOut, roundTo, model.Manifest?.AllEdits, recalibration,
                builtIn.Score), null);
        }
        var compressor = plugins.Compressors.FirstOrDefault(c => c.Name.Equals(s.Pruner, StringComparison.OrdinalIgnoreCase))
            ?? throw new JobException($"Search:Pruner = '{s.Pruner}' is neither built in (l1, l2, fpgm) nor a loaded compressor; " +
                                      (plugins.Compressors.Count == 0 ? "no plugin is loaded" : $"loaded: {string.Join(", ", plugins.Compressors.Select(c => c.Name))}") +
                                      ". Add the plugin that provides it to Compression:Plugins, or use l1.");
        var samples = task.TrainLoader(t.BatchSize, s.Seed + 3, 1.0);
        try
        {
            return (new CompressorPolicyScorer(task, compressor, s.PrunerSettings, model.Create, model.Network, model.InputShape, samples, heldOut,
                roundTo, model.Manifest?.AllEdits, recalibration), samples as IDisposable);
        }
        catch (ArgumentException e)
        {
            (samples as IDisposable)?.Dispose();
            throw new JobException($"Search:Pruner = '{s.Pruner}' / Search:PrunerSettings: {e.Message}");
        }
    }

    /// <summary>The built-in trial pruners: each group keeps the channels whose producer filters score highest by NNI's
    /// L1-norm, L2-norm or FPGM criterion (<see cref="FilterScores"/>); null names no built-in (a compressor, then). L1 passes no
    /// score: the selection's own L1 path, which also ranks transposed convolutions.</summary>
    public static (string Name, Func<TorchSharp.torch.Tensor, double[]>? Score)? BuiltInFilterScore(string pruner) => pruner.ToLowerInvariant() switch
    {
        "l1" => ("l1", null),
        "l2" => ("l2", FilterScores.L2),
        "fpgm" => ("fpgm", FilterScores.Fpgm),
        _ => null,
    };

    /// <summary>The re-estimation of each pruned copy's BatchNorm statistics Search:BatchNormBatches asks for (null: off), on
    /// training batches of Trainer:BatchSize in an order of the search's seed; dispose its loader with the search.</summary>
    public static BatchNormRecalibration? Recalibration(TrainingTask task, SearchOptions s, TrainerOptions t) =>
        s.BatchNormBatches > 0 ? new BatchNormRecalibration(task.TrainLoader(t.BatchSize, s.Seed + 2, 1.0), s.BatchNormBatches) : null;

    /// <summary>AutoCompress's rounds, annealing (NNI's defaults) and ADMM from the Search section.</summary>
    public static AutoCompressOptions AutoCompressOptions(SearchOptions s, RewardKind reward) => new()
    {
        Rounds = s.AutoCompressRounds,
        Annealing = new AnnealingOptions { Reward = reward, Seed = s.Seed },
        Admm = new AdmmOptions
        {
            Iterations = s.AdmmIterations,
            Rho = s.AdmmRho,
            Training = new ShortTrainingOptions { Steps = s.AdmmSteps, Epochs = 1, LearningRate = s.AdmmLearningRate, Seed = s.Seed },
        },
        Norm = s.AdmmNorm.Equals("l2", StringComparison.OrdinalIgnoreCase) ? ChannelNorm.L2 : ChannelNorm.L1,
    };
}
