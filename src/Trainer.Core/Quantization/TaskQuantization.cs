using Microsoft.Extensions.Logging;
using Trainer.Abstractions;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Callbacks;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using TorchSharp;

namespace Trainer.Core.Quantization;

/// <summary>Where a quantization run writes, and the batches it reads.</summary>
/// <param name="CheckpointDir">The exported model, its calibration record and finetuning checkpoints.</param>
/// <param name="LogDir">TensorBoard events of the quantizers and of the finetuning.</param>
/// <param name="Resume">Keep an export already in <paramref name="CheckpointDir"/> and measure it.</param>
/// <param name="BatchSize">Training batch size (calibration and finetuning).</param>
/// <param name="EvalBatchSize">Validation batch size.</param>
/// <param name="Seed">Seed of the training batches' order.</param>
/// <param name="SubsetRatio">Fraction of the training data used, in (0, 1].</param>
public sealed record QuantizationRun(string CheckpointDir, string LogDir, bool Resume = false, int BatchSize = 64, int EvalBatchSize = 256,
    long Seed = 0, double SubsetRatio = 1.0);

/// <summary>How a task's model is quantized.</summary>
public sealed record TaskQuantizationOptions
{
    /// <summary>The quantizer's settings (plugins/README.md lists each quantizer's keys).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Finetuning epochs with the task's trainer, for quantizers that train (QAT, DoReFa, BNN, LSQ); 0 = none.</summary>
    public int FinetuneEpochs { get; init; } = 1;

    /// <summary>Finetuning learning rate.</summary>
    public double FinetuneLearningRate { get; init; } = 0.001;

    /// <summary>Largest output difference tolerated between the exported file reloaded and the simulated model.</summary>
    public double ReloadTolerance { get; init; } = 1e-5;

    /// <summary>Also write the quantized model as ONNX QDQ (<see cref="QuantizedOnnxExport.FileName"/> next to the quantized file)
    /// and score it in ONNX Runtime.</summary>
    public bool WriteOnnx { get; init; }

    /// <summary>ONNX Runtime's intra-op threads for that score (spinning off).</summary>
    public int OnnxThreads { get; init; } = 1;
}

/// <summary>A quantizer's plan or settings were refused; the message names the quantizer and the setting.</summary>
public sealed class QuantizationSettingsException(string message, Exception inner) : ArgumentException(message, inner);

/// <summary>
/// Quantizes a model for a task: a quantizer plugin plans, the core wraps the layers and calibrates on the task's training
/// batches, quantizers that train are finetuned with the task's own trainer, then the model is exported as packed integers
/// with its compression manifest; the export is reloaded into a fresh model, must give the simulated model's outputs, and
/// is scored by the task. A resumed run keeps an export that is already there and measures it.
/// </summary>
public sealed class TaskQuantization(TrainingTask task, IQuantizer quantizer, TaskQuantizationOptions options, TrainerRecipe recipe,
    ILoggerFactory loggers)
{
    /// <summary>File name of the exported model in the run's checkpoint folder.</summary>
    public const string ExportFileName = "quantized.trnq";

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Quantize");

    /// <summary>Quantizes <paramref name="model"/> (a trained model, or one a manifest rebuilt; a channels-last export is
    /// quantized in NCHW). The model is changed in place.</summary>
    /// <exception cref="QuantizationSettingsException">The quantizer refuses its settings or the model.</exception>
    /// <exception cref="ArgumentException">The model does not take the task's example input.</exception>
    /// <exception cref="InvalidOperationException">The folder has an export already and <see cref="QuantizationRun.Resume"/> is off.</exception>
    /// <exception cref="InvalidDataException">The export does not reload to the simulated model, or a kept export is of another model.</exception>
    public QuantizationSummary Run(LoadedModel model, QuantizationRun run)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(run);
        var exportPath = Path.Combine(run.CheckpointDir, ExportFileName);
        var exists = IO.FileBytes.Exists(exportPath, "Quantized model file", message => new InvalidDataException(message));
        if (exists && !run.Resume)
            throw new InvalidOperationException($"'{exportPath}' already holds a quantized model; resume, or quantize into another folder.");
        ExampleInputCheck.Ensure(model.Network, model.Name, model.InputShape, task);
        if (Inference.ChannelsLast.RestoreConvWeights(model.Network) > 0)
        {
            // Quantizers read and pack NCHW weights; the quantized file records its model in that layout.
            _logger.LogInformation("'{Name}' is a channels-last export: its conv weights are quantized in NCHW.", model.Name);
            model = model with { Manifest = model.Manifest! with { Layout = CompressionManifest.ContiguousLayout, ContiguousLayers = [] } };
        }

        var trainLoader = task.TrainLoader(run.BatchSize, run.Seed, run.SubsetRatio);
        using var trainLease = trainLoader as IDisposable;
        var valLoader = task.ValidationLoader(run.EvalBatchSize);
        using var valLease = valLoader as IDisposable;
        var floatScore = task.ScoreOf(model.Network, valLoader);
        var floatBytes = QuantizedModelFile.Float32Size(model.Network);

        var plan = Plan(model, trainLoader);
        // Refused before calibrating or finetuning: a method the ONNX export cannot write would fail only at the end.
        if (options.WriteOnnx) Export.Onnx.OnnxQdqSupport.Check(plan);
        double calibrated, quantized;
        if (exists)
        {
            _logger.LogInformation("Resuming: the quantized model '{Path}' is already there; measuring it.", exportPath);
            using var reloaded = Reload(exportPath, model, mustMatch: model.Network);
            quantized = task.ScoreOf(reloaded, valLoader);
            calibrated = CalibrationRecord.Read(run.CheckpointDir);
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
                throw Refused(e);
            }
            calibrated = task.ScoreOf(model.Network, valLoader);
            var board = new QuantizationTensorBoard(torch.utils.tensorboard.SummaryWriter(run.LogDir), session.Layers);
            board.Write(0);
            if (plan.NeedsTraining && options.FinetuneEpochs > 0) Finetune(model, run, trainLoader, valLoader, board);
            Directory.CreateDirectory(run.CheckpointDir);
            CalibrationRecord.Write(run.CheckpointDir, calibrated);
            // The architecture travels with the export, its timings do not: the same model gives the same file on every run.
            session.Export(exportPath, model.Manifest?.WithoutTimings().ToJson());
            // Measured on the export as reloaded, the model a resumed run measures: both report the same score.
            quantized = CheckReload(exportPath, model, valLoader);
        }
        QuantizedOnnxResult? onnx = null;
        if (options.WriteOnnx)
        {
            // From the export as reloaded (the integer codes as saved), rewritten on resume: the same file every time.
            using var reloaded = Reload(exportPath, model);
            onnx = QuantizedOnnxExport.Run(reloaded, model.InputShape, Path.Combine(run.CheckpointDir, QuantizedOnnxExport.FileName), task,
                valLoader, options.OnnxThreads, overwrite: run.Resume, _logger);
        }
        return new QuantizationSummary(quantizer.Name, exportPath, task.Score, floatScore, calibrated, quantized, floatBytes,
            new FileInfo(exportPath).Length, plan.Layers.Count, plan.Summary) { Onnx = onnx };
    }

    private QuantizationPlan Plan(LoadedModel model, IBatchLoader trainLoader)
    {
        try
        {
            var plan = quantizer.Plan(new QuantizationRequest
            {
                Model = model.Network, ExampleInputShape = model.InputShape, CalibrationData = trainLoader, Settings = options.Settings,
                Logger = loggers.CreateLogger($"Trainer.Quantize.{quantizer.Name}"),
            });
            _logger.LogInformation("{Quantizer}: {Summary}", quantizer.Name, plan.Summary);
            return plan;
        }
        catch (ArgumentException e)
        {
            throw Refused(e);
        }
    }

    private QuantizationSettingsException Refused(ArgumentException e) => new(
        $"quantizer '{quantizer.Name}': {(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", ""))}", e);

    private void Finetune(LoadedModel model, QuantizationRun run, IBatchLoader trainLoader, IBatchLoader valLoader, QuantizationTensorBoard board)
    {
        var checkpointDir = Path.Combine(run.CheckpointDir, "finetune");
        // The run restarts from its float input after a crash, so a crashed attempt's checkpoints are stale.
        if (Directory.Exists(checkpointDir)) Directory.Delete(checkpointDir, recursive: true);
        var trainer = recipe.Create(task, new TrainingRunSpec(model.Network, trainLoader, valLoader, Path.Combine(run.LogDir, "finetune"),
            checkpointDir, options.FinetuneEpochs, options.FinetuneLearningRate), loggers, [board]);
        var result = trainer.Run();
        _logger.LogInformation("Finetuned the quantized model {Epochs} epoch(s) at lr {Rate}: {Reason}.", result.EpochsCompleted,
            options.FinetuneLearningRate, result.StopReason);
    }

    /// <summary>
    /// Loads the export into a fresh model of the original architecture (compression edits replayed). With
    /// <paramref name="mustMatch"/> (the run's float model, on resume) the rebuilt architecture must be that model's:
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
                throw new InvalidDataException($"'{path}' was quantized from another model than this one: {difference}. " +
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
    private double CheckReload(string path, LoadedModel model, IBatchLoader valLoader)
    {
        using var reloaded = Reload(path, model);
        using (var scope = torch.NewDisposeScope())
        {
            var batch = valLoader.GetBatches(0).First();
            model.Network.eval();
            using var _ = torch.inference_mode();
            var difference = (model.Network.call(batch.Inputs) - reloaded.call(batch.Inputs)).abs().max().item<float>();
            if (!(difference <= options.ReloadTolerance))
                throw new InvalidDataException($"The exported model '{path}' reloads with outputs up to {difference:G3} away from the simulated " +
                                               $"model's (reload tolerance {options.ReloadTolerance:G3}); the export is not faithful.");
            _logger.LogInformation("Reloaded '{Path}': outputs within {Difference:G3} of the simulated model.", path, difference);
        }
        return task.ScoreOf(reloaded, valLoader);
    }
}
