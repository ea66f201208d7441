using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Graph;
using Trainer.Core.IO;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer search`: searches per-group keep ratios of a trained model under a MACs budget with AMC's agent, the genetic
/// algorithm or simulated annealing (Core's <see cref="AmcSearch"/>, <see cref="GeneticSearch"/>, <see cref="SimulatedAnnealingSearch"/>), each trial a copy pruned by Search:Pruner (L1 by default) and scored by the task
/// on held-out training samples without finetuning. Writes search-result.json (the best policy, which
/// `trainer compress --Compression:Allocation=searched --Compression:Policy=...` applies; for NetAdapt and AutoCompress also the
/// model they trained, in searched-model.bin beside it), the trial journal that
/// --resume continues from, TensorBoard scalars and a table.
/// </summary>
public sealed class SearchJob(Microsoft.Extensions.Configuration.IConfiguration configuration, IOptions<ModelOptions> modelOptions, IOptions<TrainerOptions> trainerOptions, IOptions<SearchOptions> searchOptions,
    Tasks.TaskProvider tasks, Plugins.PluginLoader plugins, ILoggerFactory loggers)
{
    /// <summary>File names in the search's checkpoint folder.</summary>
    public const string ResultFileName = "search-result.json", JournalFileName = "trials.jsonl", TrialsFolderName = "trials";

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Search");

    /// <summary>Runs the configured search; returns the result.</summary>
    public SearchResult Run()
    {
        var t = trainerOptions.Value;
        var s = searchOptions.Value;
        var stage = RunFolders.Resolve(t, stage: "search").Stage("search");
        var resultPath = Path.Combine(stage.CheckpointDir, ResultFileName);
        var journalPath = Path.Combine(stage.CheckpointDir, JournalFileName);
        if (t.Threads > 0) torch.set_num_threads(t.Threads);

        var task = tasks.Task;
        var model = ModelLoader.LoadTrained(modelOptions.Value, _logger, "search", task);
        try
        {
            torch.manual_seed(s.Seed);
            model.Network.eval();
            var graph = ModelGraph.Build(model.Network, model.InputShape, _logger);
            PolicySpace space;
            try
            {
                space = PolicySpace.Build(model.Network, graph, s.TargetFlopsRatio, s.LayerFloor, s.RoundTo);
            }
            catch (ArgumentException e)
            {
                throw new JobException($"Search:TargetFlopsRatio / Search:LayerFloor: {e.Message}");
            }
            // The settings are checked against the model before an earlier search in the folder is kept or continued: bad input
            // is refused as such, whatever the folder holds.
            if (File.Exists(resultPath) && !t.Resume)
                throw new JobException($"The run '{stage.RunName}' already has a search result in '{resultPath}'. Pass --resume to keep it, or choose another --Trainer:RunName.");
            if (File.Exists(resultPath)) return Report(SearchResult.Load(resultPath), resultPath, stage, replayed: 0);
            if (File.Exists(journalPath) && !t.Resume)
                throw new JobException($"The run '{stage.RunName}' has an interrupted search ('{journalPath}'). Pass --resume to continue it from its last finished trial, " +
                                       "or choose another --Trainer:RunName.");
            // Training samples (a seed of their own), never the validation set the compressed model is judged on.
            var loader = task.CalibrationLoader(s.HeldOutSamples, t.EvalBatchSize, s.Seed + 1);
            using var heldOut = loader as IDisposable;
            if (s.Method.Equals("autocompress", StringComparison.OrdinalIgnoreCase)) return AutoCompress(model, task, loader, s, t, resultPath, stage);
            var fingerprint = SearchFingerprint.Of(model, task.Name, s) + AutoPruneSearches.FingerprintSuffix(s, t);
            // Finetuned candidates (NetAdapt's, or any search's with Search:RewardFinetuneSteps) start from a base: the model, or
            // the one NetAdapt adopted last. Each spec names that base's weights file in the trials folder, which a trial rebuilds
            // (in this process too, so every runner scores alike).
            var trialsFolder = Path.Combine(stage.CheckpointDir, TrialsFolderName);
            var recalibration = AutoPruneSearches.Recalibration(task, s, t);
            using var recalibrationLoader = recalibration?.Loader as IDisposable;
            using var finetuner = AutoPruneSearches.FinetuningScorer(task, model, loader, s, t);
            var bases = finetuner is null ? null : new AdoptedBaseFiles(finetuner, trialsFolder, AutoPruneSearches.TrialFinetune(s, t));
            var (policyScorer, pruneSamples) = finetuner is null ? AutoPruneSearches.PolicyScorer(task, model, loader, s, t, s.RoundTo, recalibration, plugins) : (null, null);
            using var _ = pruneSamples;
            using var candidates = finetuner is null ? null
                : AutoPruneSearches.TrialCandidates(task, model, loader);
            using var trials = SearchTrials.Create(configuration, s, fingerprint, trialsFolder,
                (IPolicyScorer?)finetuner ?? policyScorer!, _logger, bases, candidates);
            var scorer = new JournaledPolicyScorer(trials.Scorer, journalPath, fingerprint, _logger);
            var reward = Reward(s.Reward);
            _logger.LogInformation("Searching {Method} keep ratios of '{Model}' at {Target:0.###} of its {Macs} MACs over {Groups} groups, " +
                                   "each trial scored on {Samples} held-out training samples.", s.Method, model.Name, s.TargetFlopsRatio, space.FullMacs, space.Count, loader.SampleCount);
            var result = s.Method.ToLowerInvariant() switch
            {
                // A resumed NetAdapt takes its candidates' scores from the journal but finetunes each chosen one again (seeded,
                // so to the same weights): the next iteration's candidates start from it.
                "netadapt" => NetAdaptSearch.Run(space, scorer, new NetAdaptOptions { StepRatio = s.NetAdaptStep, Reward = reward }, bases!.Adopt, _logger),
                "genetic" => GeneticSearch.Run(space, scorer, new GeneticOptions { PopulationSize = s.Population, Generations = s.Generations, Reward = reward, Seed = s.Seed }, _logger),
                "annealing" => SimulatedAnnealingSearch.Run(space, scorer, new AnnealingOptions { Reward = reward, Seed = s.Seed, Neighbours = Parallel(s) }, _logger),
                _ => AmcSearch.Run(space, scorer, new DdpgOptions { Episodes = s.Episodes, WarmupEpisodes = s.WarmupEpisodes, Reward = reward, Seed = s.Seed }, _logger),
            };
            _logger.LogInformation("{Ran} trial(s) run in {Batches} batch(es); {Reused} answered from trial results already in '{Folder}', {Replayed} from the journal.",
                trials.Scorer.Ran, trials.Scorer.Batches, trials.Scorer.Reused, Path.Combine(stage.CheckpointDir, TrialsFolderName), scorer.Replayed);
            if (s.Finalists > 0)
            {
                // The search's workers end before the finalists' start (disposing twice is harmless).
                trials.Dispose();
                result = Finalists(result, space, model, task, loader, s, t, fingerprint, trialsFolder, reward);
            }
            // NetAdapt's product is its last adopted base, finetuned (what NNI's NetAdaptPruner returns): kept beside the result.
            if (finetuner is not null && AutoPruneSearches.IsNetAdapt(s)) result = result with { Model = SearchedModel.Write(stage.CheckpointDir, finetuner.Base, finetuner.BaseEdits) };
            result.Save(resultPath);
            new SearchBoard(stage.LogDir).Log(result);
            return Report(result, resultPath, stage, scorer.Replayed);
        }
        finally
        {
            model.Network.Dispose();
        }
    }

    /// <summary>Search:Finalists: the search's best distinct policies finetuned briefly and scored again, as trials of the same
    /// runner (a killed run's finished finalists are answered from their results in the trials folder when it resumes).</summary>
    private SearchResult Finalists(SearchResult result, PolicySpace space, Core.Models.LoadedModel model, Core.Tasks.TrainingTask task,
        Trainer.Abstractions.IBatchLoader heldOut, SearchOptions s, TrainerOptions t, string fingerprint, string trialsFolder, RewardKind reward)
    {
        using var finetuner = AutoPruneSearches.FinalistScorer(task, model, heldOut, s, t);
        var bases = new AdoptedBaseFiles(finetuner, trialsFolder, AutoPruneSearches.FinalistFinetune(s, t));
        using var candidates = AutoPruneSearches.TrialCandidates(task, model, heldOut);
        using var trials = SearchTrials.Create(configuration, s, fingerprint, trialsFolder, finetuner, _logger, bases, candidates);
        _logger.LogInformation("Scoring the {Count} best distinct policies again, each after {Steps} training steps.", s.Finalists, s.FinalistFinetuneSteps);
        return FinalistSelection.Run(result, space, trials.Scorer, s.Finalists, reward, _logger);
    }

    /// <summary>Trials that run at once: annealing scores this many neighbours per batch.</summary>
    private static int Parallel(SearchOptions s) => s.Runner.Equals("local", StringComparison.OrdinalIgnoreCase) ? s.Workers : 1;

    private static RewardKind Reward(string name) => name.ToLowerInvariant() switch
    {
        "error-log-macs" => RewardKind.ErrorLogMacs,
        "error-log-params" => RewardKind.ErrorLogParams,
        _ => RewardKind.Accuracy,
    };

    private static string FinalistsNote(SearchResult result) =>
        result.Finalists is { } f ? $", the best of {f.Count} finalists after their training steps" : "";

    private SearchResult Report(SearchResult result, string resultPath, RunFolders stage, int replayed)
    {
        var best = result.Best;
        var table = new Table().Title(string.Create(CultureInfo.InvariantCulture,
                $"Best {best.Method} policy: score {best.Score:0.####}, {best.MacsRatio:0.###} of the MACs, {result.History.Count} trials{FinalistsNote(result)}"))
            .AddColumn("group").AddColumn(new TableColumn("kept").RightAligned()).AddColumn(new TableColumn("of").RightAligned()).AddColumn(new TableColumn("ratio").RightAligned());
        foreach (var g in best.Groups) table.AddRow(Markup.Escape(g.Id), g.Kept.ToString(), g.Channels.ToString(), g.Ratio.ToString("0.###", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        Directory.CreateDirectory(stage.LogDir);
        AtomicFile.WriteAllText(Path.Combine(stage.LogDir, "summary.json"), JsonSerializer.Serialize(new
        {
            run = stage.RunName,
            method = best.Method,
            result = resultPath,
            score = best.Score,
            reward = best.Reward,
            macs = best.Macs,
            full_macs = best.FullMacs,
            macs_ratio = best.MacsRatio,
            trials = result.History.Count,
            trials_from_journal = replayed,
            finalists = result.Finalists?.Count ?? 0,
            kept = best.Groups.ToDictionary(g => g.Id, g => g.Kept),
            model = result.Model is null ? null : Path.Combine(stage.CheckpointDir, result.Model.Weights),
        }, new JsonSerializerOptions { WriteIndented = true }));
        _logger.LogInformation("Search result in '{Path}'; apply it with --Compression:Allocation=searched --Compression:Policy={Path}.", resultPath, resultPath);
        if (result.Model is not null)
            _logger.LogInformation("The model the search trained ({Edits} edit(s) on the architecture) is in '{Weights}', named by the result.",
                result.Model.Edits.Count, Path.Combine(stage.CheckpointDir, result.Model.Weights));
        return result;
    }

    /// <summary>AutoCompress: rounds of annealing (trials scored without finetuning) then ADMM training toward the chosen widths.
    /// Its trials depend on the weights ADMM trained in earlier rounds, so it keeps no journal: --resume starts it again.</summary>
    private SearchResult AutoCompress(Core.Models.LoadedModel model, Core.Tasks.TrainingTask task, Trainer.Abstractions.IBatchLoader heldOut,
        SearchOptions s, TrainerOptions t, string resultPath, RunFolders stage)
    {
        _logger.LogInformation("AutoCompress of '{Model}' to {Target:0.###} of its MACs in {Rounds} rounds, trials scored on {Samples} held-out training samples.",
            model.Name, s.TargetFlopsRatio, s.AutoCompressRounds, heldOut.SampleCount);
        var outcome = AutoCompressSearch.Run(task, model.Create, model.Network, model.InputShape, task.TrainLoader(t.BatchSize, s.Seed + 2, 1.0),
            heldOut, s.TargetFlopsRatio, s.LayerFloor, s.RoundTo, AutoPruneSearches.AutoCompressOptions(s, Reward(s.Reward)), model.Manifest?.AllEdits, _logger);
        SearchResult result;
        using (outcome.Model) result = outcome.Result with { Model = SearchedModel.Write(stage.CheckpointDir, outcome.Model, outcome.Edits) };
        result.Save(resultPath);
        new SearchBoard(stage.LogDir).Log(result);
        return Report(result, resultPath, stage, replayed: 0);
    }
}
