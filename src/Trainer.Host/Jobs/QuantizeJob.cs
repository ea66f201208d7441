using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Abstractions.Quantization;
using Trainer.Core.Quantization;
using Trainer.Host.Options;
using Trainer.Host.Plugins;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer quantize`: maps the Quantization section to Core's <see cref="TaskQuantization"/> (a quantizer plugin plans,
/// the core wraps, calibrates, finetunes with the task's trainer, exports as packed integers and checks the reload) and
/// prints its report. Resuming keeps an export that is already there.
/// </summary>
public sealed class QuantizeJob(
    IOptions<TrainerOptions> trainerOptions, IOptions<DataOptions> dataOptions, IOptions<ModelOptions> modelOptions,
    IOptions<QuantizationOptions> quantizationOptions, IOptions<ExportOptions> exportOptions, PluginLoader plugins, Tasks.TaskProvider tasks, TrainerFactory trainers, ILoggerFactory loggers)
{
    /// <summary>File name of the exported model in the stage's checkpoint folder.</summary>
    public const string ExportFileName = TaskQuantization.ExportFileName;

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
        var export = exportOptions.Value;
        var onnxPath = Path.Combine(stage.CheckpointDir, QuantizedOnnxExport.FileName);
        if (export.WritesOnnx && File.Exists(onnxPath) && !t.Resume)
            throw new JobException($"The run '{stage.RunName}' already has an ONNX model in '{onnxPath}'. " +
                                   "Pass --resume to replace it, or choose another --Trainer:RunName.");
        if (t.Threads > 0) torch.set_num_threads(t.Threads);

        var task = tasks.Task;
        var model = ModelLoader.LoadTrained(modelOptions.Value, _logger, "quantize", task, checkpoint, manifest);
        var quantization = new TaskQuantization(task, quantizer, new TaskQuantizationOptions
        {
            Settings = o.EffectiveSettings, FinetuneEpochs = o.FinetuneEpochs, ReloadTolerance = o.ReloadTolerance,
            FinetuneLearningRate = o.FinetuneLearningRate > 0 ? o.FinetuneLearningRate : t.LearningRate / 10,
            WriteOnnx = export.WritesOnnx, OnnxThreads = export.OnnxThreads,
        }, trainers.Recipe, loggers);
        QuantizationSummary summary;
        try
        {
            summary = quantization.Run(model, new QuantizationRun(stage.CheckpointDir, stage.LogDir, t.Resume, t.BatchSize, t.EvalBatchSize, t.Seed,
                dataOptions.Value.SubsetRatio));
        }
        catch (QuantizationSettingsException e)
        {
            throw JobException.From(e, "Quantization:Settings");
        }
        catch (Core.Export.Onnx.OnnxExportException e)
        {
            throw new JobException($"The quantized model of '{modelOptions.Value.Name}' cannot be written as ONNX (Export:Format=onnx): {e.Message}");
        }
        catch (Core.Export.Onnx.OnnxRuntimeSessionException e)
        {
            throw new JobException($"ONNX Runtime refuses the quantized model's ONNX file (Export:Format=onnx): {e.Message}");
        }
        finally
        {
            model.Network.Dispose();
        }
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
}
