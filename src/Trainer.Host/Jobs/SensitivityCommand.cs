using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Models;
using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Data;
using Trainer.Core.Search.Trials;
using Trainer.Core.Training;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer analyze sensitivity`: prunes one layer at a time at each sparsity (L1 filters) and records the
/// task's score on its fixed validation subset (Core's <see cref="TaskSensitivity"/>); writes NNI's CSV and a PNG; shards and merges.
/// With Search:Runner = local or slurm each layer's sweep runs as a trial on that runner (<see cref="SensitivityTrials"/>), with
/// the same figures.
/// </summary>
public sealed class SensitivityCommand(Tasks.TaskProvider tasks, ILoggerFactory loggers, Microsoft.Extensions.Configuration.IConfiguration configuration,
    IOptions<SearchOptions> searchOptions, IOptions<TrainerOptions> trainerOptions)
{
    /// <summary>The configuration sections a shard needs to load the model and task as `trainer analyze` does.</summary>
    public static readonly IReadOnlyList<string> SpecSections = [TrainerOptions.Section, DataOptions.Section, TaskOptions.Section, ModelOptions.Section, AnalyzeOptions.Section];

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Sensitivity");

    /// <summary>Analyses <paramref name="model"/>; returns the figures as JSON.</summary>
    public string Run(LoadedModel model, AnalyzeOptions options)
    {
        var s = options.Sensitivity;
        // Trainer:Threads as in every job (a worker running a shard applies it too, so the figures compare to the bit).
        if (trainerOptions.Value.Threads > 0) torch.set_num_threads(trainerOptions.Value.Threads);
        var task = tasks.Task;
        ModelLoader.CheckTakes(model, task);
        var layers = s.ParseLayers() ?? SensitivityAnalysis.PrunableLayers(model.Network);
        if (s.ShardCount > 1) layers = SensitivityAnalysis.SelectShard(layers, s.ShardIndex, s.ShardCount);
        var suffix = s.ShardCount > 1 ? $"-shard{s.ShardIndex}-of-{s.ShardCount}" : "";
        var mode = Enum.Parse<EarlyStopMode>(s.EarlyStopMode, ignoreCase: true);
        double? stopValue = s.EarlyStopMode.Equals("none", StringComparison.OrdinalIgnoreCase) ? null : s.EarlyStopValue;
        var trials = Path.GetFullPath(Path.Combine(options.OutputDir, $"{model.Name}-sensitivity{suffix}-trials"));
        var outOfProcess = SearchTrials.OutOfProcessRunner(searchOptions.Value, trials, _logger);
        SensitivityResult result;
        try
        {
            if (outOfProcess is not { } run)
                result = TaskSensitivity.Analyze(task, model.Network, model.Name, model.InputShape, s.ValidationSamples, s.ParseSparsities(), mode,
                    stopValue, layers, _logger, SensitivityPruners.Create(s.Pruner));
            else
            {
                // Search:Runner runs each layer's sweep as a trial (a shard spec in the trials folder), in worker processes or on a cluster.
                using var owned = run.Owned;
                var shards = TaskSensitivity.Shards(task, model.Network, model.Name, model.InputShape, s.ValidationSamples, s.ParseSparsities(), mode,
                    stopValue, layers, s.Pruner, _logger);
                var fingerprint = SensitivityTrialExecutor.Fingerprint(model, task.Name, s.ValidationSamples);
                var config = SearchTrials.SpecConfig(configuration, SpecSections);
                var specs = shards.Select(shard => TrialSpec.ForShard(fingerprint, config, Directory.GetCurrentDirectory(), shard)).ToList();
                result = new SensitivityTrials(run.Runner, trials, _logger).Run(specs);
            }
        }
        catch (ArgumentException e)
        {
            throw JobException.From(e, "Analyze:Sensitivity");
        }
        catch (TrialFailedException e)
        {
            throw new JobException(e.Message);
        }

        var csv = Path.Combine(options.OutputDir, $"{model.Name}-sensitivity{suffix}.csv");
        return Report(result, csv, $"{model.Name}, baseline {task.Score.Format(result.Baseline)}", task.Score.Name);
    }

    /// <summary>Merges the shard CSVs named in Analyze:Sensitivity:MergeFiles; returns the merged figures as JSON.</summary>
    public string Merge(AnalyzeOptions options)
    {
        var files = options.Sensitivity.MergeFiles.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var file in files)
            if (!File.Exists(file)) throw new JobException($"Analyze:Sensitivity:MergeFiles names '{file}', which does not exist.");
        try
        {
            SensitivityCsv.Merge(files, options.Sensitivity.MergeOutput);
        }
        catch (InvalidDataException e)
        {
            throw new JobException(e.Message);
        }
        return Report(SensitivityCsv.Read(options.Sensitivity.MergeOutput), options.Sensitivity.MergeOutput, $"merged from {files.Length} files", "score", writeCsv: false);
    }

    private string Report(SensitivityResult result, string csv, string title, string scoreName, bool writeCsv = true)
    {
        var table = new Table().Title(Markup.Escape(title)).AddColumn("layer");
        foreach (var sparsity in result.Sparsities) table.AddColumn(new TableColumn(sparsity.ToString("0.##", CultureInfo.InvariantCulture)).RightAligned());
        foreach (var (layer, row) in result.Metrics)
            table.AddRow([Markup.Escape(layer), .. result.Sparsities.Select(sp => row.TryGetValue(sp, out var m) ? m.ToString("0.0000") : "")]);
        AnsiConsole.Write(table);

        if (writeCsv) SensitivityCsv.Write(csv, result);
        var png = Path.ChangeExtension(csv, ".png");
        SensitivityPlot.Save(result, png, metricName: $"Validation {scoreName}");
        _logger.LogInformation("Sensitivity CSV in '{Csv}', plot in '{Png}'.", csv, png);
        return JsonSerializer.Serialize(new
        {
            baseline = double.IsNaN(result.Baseline) ? (double?)null : result.Baseline,
            sparsities = result.Sparsities,
            layers = result.Metrics.ToDictionary(kv => kv.Key,
                kv => kv.Value.ToDictionary(m => m.Key.ToString(CultureInfo.InvariantCulture), m => m.Value)),
        }, new JsonSerializerOptions { WriteIndented = true });
    }
}
