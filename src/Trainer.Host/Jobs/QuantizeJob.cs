using Trainer.Core.Models;
using Trainer.Abstractions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Callbacks;
using Trainer.Core.Compression;
using Trainer.Core.Data;
using Trainer.Core.Quantization;
using Trainer.Core.Training;
using Trainer.Host.Options;
using Trainer.Host.Plugins;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer quantize`: a quantizer plugin plans, the core wraps the layers, calibrates and (for quantizers that train)
/// finetunes, then the model is exported as packed integers with its compression manifest; the export is reloaded into a
/// fresh model and must give the simulated model's outputs. Resuming skips an export that is already there.
/// </summary>
public sealed class QuantizeJob(
    IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, IOptions<ModelOptions> modelOptions,
    IOptions<QuantizationOptions> quantizationOptions, PluginLoader plugins, Tasks.TaskProvider tasks, TrainerFactory trainers, ILoggerFactory loggers)
{
    /// <summary>File name of the exported model in the stage's checkpoint folder.</summary>
    public const string ExportFileName = "quantized.trnq";

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Quantize");

    /// <summary>Runs the stage on the configured model, or on a pipeline's <paramref name="checkpoint"/> / compression <paramref name="manifest"/>.</summary>
    public QuantizationSummary Run(RunFolders? folders = null, string? checkpoint = null, string? manifest = null)
    {
        var o = quantizationOptions.Value;
        var t = trainerOptions.Value;
        var quantizer = FindQuantizer(o);
        var stage = (folders ?? RunFolders.Resolve(t, stage: "quantize", logger: _logger)).Stage("quantize");
        var exportPath = Path.Combine(stage.CheckpointDir, ExportFileName);
        var exists = Core.IO.FileBytes.Exists(exportPath, "Quantized model file", message => new InvalidDataException(message));
        if (exists && !t.Resume)
            throw new JobException($"The run '{stage.RunName}' already has a quantized model in '{exportPath}'. " +
                                   "Pass --resume to keep it, or choose another --Trainer:RunName.");
        if (t.Threads > 0) torch.set_num_threads(t.Threads);

        var task = tasks.Task;
        var model = ModelLoader.LoadTrained(modelOptions.Value, _logger, "quantize", task, checkpoint, manifest);
        if (Core.Inference.ChannelsLast.RestoreConvWeights(model.Network) > 0)
        {
            // Quantizers read and pack NCHW weights; the quantized file records its model in that layout.
            _logger.LogInformation("'{Name}' is a channels-last export: its conv weights are quantized in NCHW.", model.Name);
            model = model with { Manifest = model.Manifest! with { Layout = CompressionManifest.ContiguousLayout, ContiguousLayers = [] } };
        }

        var trainLoader = task.TrainLoader(t.BatchSize, t.Seed, dataOptions.Value.SubsetRatio);
        using var trainLease = trainLoader as IDisposable;
        var valLoader = task.ValidationLoader(t.EvalBatchSize);
        using var valLease = valLoader as IDisposable;
        var floatScore = task.ScoreOf(model.Network, valLoader);
        var floatBytes = QuantizedModelFile.Float32Size(model.Network);

        var plan = PlanFor(quantizer, model, trainLoader, o);
        double calibrated = double.NaN, finetuned;
        if (exists)
        {
            _logger.LogInformation("Resuming '{Run}': the quantized model '{Path}' is already there; measuring it.", stage.RunName, exportPath);
            using var reloaded = Reload(exportPath, model, mustMatch: model.Network);
            finetuned = task.ScoreOf(reloaded, valLoader);
            calibrated = CalibrationRecord.Read(stage.CheckpointDir);
        }
        else
        {
            var session = new QuantizationSession(model.Network, model.InputShape, _logger);
            try
            {
                session.Apply(plan);
                if (plan.NeedsCalibration) session.Calibrate(trainLoader, plan.CalibrationBatches);
            }
            catch (ArgumentException e)
            {
                throw JobException.From(e, $"quantizer '{quantizer.Name}', Quantization:Settings");
            }
            calibrated = task.ScoreOf(model.Network, valLoader);
            var board = new QuantizationTensorBoard(torch.utils.tensorboard.SummaryWriter(stage.LogDir), session.Layers);
            board.Write(0);
            if (plan.NeedsTraining && o.FinetuneEpochs > 0) Finetune(model, stage, trainLoader, valLoader, board);
            Directory.CreateDirectory(stage.CheckpointDir);
            CalibrationRecord.Write(stage.CheckpointDir, calibrated);
            // The architecture travels with the export, its timings do not: the same model gives the same file on every run.
            session.Export(exportPath, model.Manifest?.WithoutTimings().ToJson());
            // Measured on the export as reloaded, the model a resumed stage measures: both report the same accuracy.
            finetuned = CheckReload(exportPath, model, valLoader, o.ReloadTolerance, task);
        }

        var summary = new QuantizationSummary(quantizer.Name, exportPath, task.Score, floatScore, calibrated, finetuned, floatBytes, new FileInfo(exportPath).Length,
            plan.Layers.Count, plan.Summary);
        QuantizationReport.Write(stage, summary, _logger);
        return summary;
    }

    private IQuantizer FindQuantizer(QuantizationOptions o)
    {
        string Available() => plugins.Quantizers.Count == 0
            ? " (no quantizer plugin is loaded: list Quantizers in Compression:Plugins)."
            : $"; loaded: {string.Join(", ", plugins.Quantizers.Select(q => q.Name))}.";
        if (o.Quantizer.Length == 0) throw new JobException("Quantization:Quantizer is empty; name the quantizer to run" + Available());
        try
        {
            return plugins.GetQuantizer(o.Quantizer);
        }
        catch (KeyNotFoundException)
        {
            throw new JobException($"Quantization:Quantizer = '{o.Quantizer}' is not a loaded quantizer" + Available());
        }
    }

    private QuantizationPlan PlanFor(IQuantizer quantizer, LoadedModel model, IBatchLoader trainLoader, QuantizationOptions o)
    {
        try
        {
            var plan = quantizer.Plan(new QuantizationRequest
            {
                Model = model.Network, ExampleInputShape = model.InputShape, CalibrationData = trainLoader, Settings = o.EffectiveSettings,
                Logger = loggers.CreateLogger($"Trainer.Quantize.{quantizer.Name}"),
            });
            _logger.LogInformation("{Quantizer}: {Summary}", quantizer.Name, plan.Summary);
            return plan;
        }
        catch (ArgumentException e)
        {
            throw JobException.From(e, $"quantizer '{quantizer.Name}', Quantization:Settings");
        }
    }

    private void Finetune(LoadedModel model, RunFolders stage, IBatchLoader trainLoader, IBatchLoader valLoader, QuantizationTensorBoard board)
    {
        var o = quantizationOptions.Value;
        var checkpointDir = Path.Combine(stage.CheckpointDir, "finetune");
        // The stage restarts from its float input after a crash, so a crashed attempt's checkpoints are stale.
        if (Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        var rate = o.FinetuneLearningRate > 0 ? o.FinetuneLearningRate : trainerOptions.Value.LearningRate / 10;
        var trainer = trainers.Create(new TrainingRunSpec(model.Network, trainLoader, valLoader, Path.Combine(stage.LogDir, "finetune"),
            checkpointDir, o.FinetuneEpochs, rate), [board]);
        var result = trainer.Run();
        _logger.LogInformation("Finetuned the quantized model {Epochs} epoch(s) at lr {Rate}: {Reason}.", result.EpochsCompleted, rate, result.StopReason);
    }

    /// <summary>
    /// Loads the export into a fresh model of the original architecture (compression edits replayed). With
    /// <paramref name="mustMatch"/> (the stage's float model, on resume) the rebuilt architecture must be that model's:
    /// a quantized file of another model (other widths) is refused rather than measured as if it were this one.
    /// </summary>
    private torch.nn.Module<torch.Tensor, torch.Tensor> Reload(string path, LoadedModel model, torch.nn.Module? mustMatch = null)
    {
        var fresh = QuantizedModelFile.ReadManifest(path) is { } json
            ? CompressedModel.Rebuild(CompressionManifest.FromJson(json, $"the manifest inside '{path}'"), path, model.Create)
            : model.Create();
        try
        {
            if (mustMatch is not null && ShapeDifference(fresh, mustMatch) is { } difference)
                throw new InvalidDataException($"'{path}' was quantized from another model than this stage's: {difference}. " +
                                               "Move it away to quantize this model again.");
            QuantizedModelFile.Load(path, fresh, _logger);
            return fresh;
        }
        catch
        {
            fresh.Dispose();
            throw;
        }
    }

    /// <summary>The first state tensor whose shape differs between the two models, described, or null when none does.</summary>
    private static string? ShapeDifference(torch.nn.Module rebuilt, torch.nn.Module expected)
    {
        var mine = rebuilt.state_dict();
        foreach (var (name, tensor) in expected.state_dict())
            if (!mine.TryGetValue(name, out var other) || !other.shape.SequenceEqual(tensor.shape))
                return $"'{name}' is [{(other is null ? "absent" : string.Join(",", other.shape))}] there but [{string.Join(",", tensor.shape)}] here";
        return mine.Count == expected.state_dict().Count ? null : "the two models have different tensors";
    }

    /// <summary>Reloads the export, checks its outputs against the simulated model's on one batch and returns the task's score of it.</summary>
    private double CheckReload(string path, LoadedModel model, IBatchLoader valLoader, double tolerance, Core.Tasks.TrainingTask task)
    {
        using var reloaded = Reload(path, model);
        using (var scope = torch.NewDisposeScope())
        {
            var batch = valLoader.GetBatches(0).First();
            model.Network.eval();
            using var _ = torch.inference_mode();
            var difference = (model.Network.call(batch.Inputs) - reloaded.call(batch.Inputs)).abs().max().item<float>();
            if (!(difference <= tolerance))
                throw new InvalidDataException($"The exported model '{path}' reloads with outputs up to {difference:G3} away from the simulated " +
                                               $"model's (Quantization:ReloadTolerance {tolerance:G3}); the export is not faithful.");
            _logger.LogInformation("Reloaded '{Path}': outputs within {Difference:G3} of the simulated model.", path, difference);
        }
        return task.ScoreOf(reloaded, valLoader);
    }
}
