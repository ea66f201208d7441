using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Compression;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer export`: maps the configuration to Core's <see cref="InferenceExport"/> (BatchNorm folded, the faster memory
/// layout, output checked, saved as a manifest with an "inference-form" step that any verb reloads with Model:Manifest)
/// and prints its report. With Export:Format=onnx the same model is also written as model.onnx by Core's
/// <see cref="OnnxExporter"/> and checked in ONNX Runtime (<see cref="OnnxRuntimeCheck"/>). --resume keeps an export that is
/// already there.
/// </summary>
public sealed class ExportJob(IOptions<ModelOptions> modelOptions, IOptions<TrainerOptions> trainerOptions,
    IOptions<CompressionOptions> compressionOptions, IOptions<ExportOptions> exportOptions, Tasks.TaskProvider tasks, ILoggerFactory loggers)
{
    /// <summary>The ONNX file's name in the stage's checkpoint folder.</summary>
    public const string OnnxFileName = "model.onnx";

    /// <summary>The compressor name of the inference-form step in the exported manifest.</summary>
    public const string Step = InferenceExport.Step;

    /// <summary>File names in the stage's checkpoint folder.</summary>
    public const string ManifestFileName = InferenceExport.ManifestFileName, WeightsFileName = InferenceExport.WeightsFileName;

    /// <summary>The memory layout chosen by timing, recorded before the export is written so a resumed run replays it.</summary>
    public const string LayoutFileName = InferenceExport.LayoutFileName;

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Export");

    /// <summary>Runs the export of the configured model, or of a pipeline's <paramref name="checkpoint"/> / compression
    /// <paramref name="manifest"/>.</summary>
    public ExportSummary Run(RunFolders? folders = null, string? checkpoint = null, string? manifest = null)
    {
        var t = trainerOptions.Value;
        var stage = (folders ?? RunFolders.Resolve(t, stage: "export")).Stage("export");
        var manifestPath = Path.Combine(stage.CheckpointDir, ManifestFileName);
        var exists = Trainer.Core.IO.FileBytes.Exists(manifestPath, "Export manifest", message => new InvalidDataException(message));
        if (exists && t.Resume && !File.Exists(Path.Combine(stage.LogDir, "summary.json")))
        {
            // Interrupted between the export and its report: exported again (the layout replays), so the report is the one an
            // unbroken run writes.
            _logger.LogInformation("Resuming '{Run}': the export's report is missing, so the export is made again.", stage.RunName);
            exists = false;
        }
        if (exists && !t.Resume)
            throw new JobException($"The run '{stage.RunName}' already has an export in '{manifestPath}'. " +
                                   "Pass --resume to keep it, or choose another --Trainer:RunName.");
        var export = new InferenceExport(_logger);
        if (exists)
        {
            var kept = export.Kept(stage.CheckpointDir, ModelLoader.Creator(CompressionManifest.Load(manifestPath).Model, manifestPath, () => tasks.Task));
            var keptOnnx = Path.Combine(stage.CheckpointDir, OnnxFileName);
            return new ExportSummary(kept.ManifestPath, kept.FoldedBatchNorms, kept.Manifest.Layout, kept.LatencyMsBefore, kept.LatencyMsAfter)
            {
                OnnxPath = File.Exists(keptOnnx) ? keptOnnx : null,
                Onnx = File.Exists(keptOnnx) ? OnnxSummary.FromReport(Path.Combine(stage.LogDir, "summary.json")) : null,
            };
        }
        var onnxPath = Path.Combine(stage.CheckpointDir, OnnxFileName);
        if (exportOptions.Value.WritesOnnx && !t.Resume && File.Exists(onnxPath))
            throw new JobException($"The run '{stage.RunName}' already has an ONNX export in '{onnxPath}'. " +
                                   "Pass --resume to replace it, or choose another --Trainer:RunName.");
        if (t.Threads > 0) torch.set_num_threads(t.Threads);
        var o = modelOptions.Value;
        if (o.Checkpoint.Length == 0 && o.Manifest.Length == 0 && o.PyTorchWeights.Length == 0 && checkpoint is null && manifest is null)
            throw new JobException("trainer export needs weights: set Model:Checkpoint (a checkpoint of `trainer train`), " +
                                   "Model:Manifest (a model of `trainer compress`) or Model:PyTorchWeights (a state_dict saved by PyTorch).");
        try
        {
            export.RecordedLayout(stage.CheckpointDir);   // a damaged record is bad input, found before any work
        }
        catch (InvalidDataException e)
        {
            throw new JobException(e.Message);
        }
        var model = ModelLoader.Load(o, _logger, () => tasks.Task, checkpoint, manifest);
        if (model.Manifest?.Iterations.Any(i => i.Compressor == Step) == true)
        {
            model.Network.Dispose();
            throw new JobException($"'{o.Manifest}' is already an inference form (it has an '{Step}' step); export its source instead.");
        }
        var cacheDir = compressionOptions.Value.LatencyCacheDir is { Length: > 0 } dir ? dir : LatencyTableOptions.DefaultCacheDir();
        ExportOutcome outcome;
        OnnxSummary? onnx = null;
        try
        {
            outcome = export.Export(model, stage.CheckpointDir, cacheDir);
            if (exportOptions.Value.WritesOnnx)
                onnx = OnnxExportStep.Run(model, stage.CheckpointDir, t.Resume, tasks.Task, new OnnxTaskCheckOptions
                {
                    Samples = exportOptions.Value.OnnxCheckSamples,
                    BatchSize = Math.Min(t.EvalBatchSize, exportOptions.Value.OnnxCheckSamples),
                    Threads = exportOptions.Value.OnnxThreads,
                }, _logger);
        }
        catch (InvalidOperationException e)
        {
            throw new JobException($"The inference form of '{model.Name}' does not compute what the model did: {e.Message}");
        }
        finally
        {
            model.Network.Dispose();
        }
        Report(stage, outcome, onnx);
        return new ExportSummary(outcome.ManifestPath, outcome.FoldedBatchNorms, outcome.Manifest.Layout, outcome.LatencyMsBefore, outcome.LatencyMsAfter)
        {
            OnnxPath = onnx?.Path,
            Onnx = onnx,
        };
    }

    private void Report(RunFolders stage, ExportOutcome outcome, OnnxSummary? onnx)
    {
        var (saved, report, manifestPath) = (outcome.Manifest, outcome.Form!, outcome.ManifestPath);
        var (beforeMs, afterMs, reloadDiff) = (outcome.LatencyMsBefore, outcome.LatencyMsAfter, outcome.ReloadMaxAbsDifference);
        var table = new Table().Title($"Inference form of {Markup.Escape(saved.Model.Name)} (run {Markup.Escape(stage.RunName)})")
            .AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("BatchNorms folded", report.FoldedPairs.Count.ToString());
        table.AddRow("memory layout", saved.Layout);
        if (report.ContiguousLayers.Count > 0)
            table.AddRow("kept NCHW (channels-last wrong on this CPU)", Markup.Escape(string.Join(", ", saved.ContiguousLayers)));
        table.AddRow("batch-1 latency before → after", $"{beforeMs:0.000} → {afterMs:0.000} ms ({beforeMs / afterMs:0.00}x)");
        table.AddRow("max |output diff| (form, reload)", $"{report.MaxAbsDifference:0.0e+00}, {reloadDiff:0.0e+00}");
        table.AddRow("manifest", Markup.Escape(manifestPath));
        if (onnx is not null)
        {
            table.AddRow("ONNX (opset, size)", $"{Markup.Escape(onnx.Path)} ({onnx.Opset}, {onnx.Bytes:N0} bytes)");
            table.AddRow($"max |ONNX Runtime - TorchSharp| ({onnx.Samples} validation samples)", $"{onnx.MaxAbsDifference:0.0e+00}");
            table.AddRow($"{Markup.Escape(tasks.Task.Score.Name)} ONNX Runtime, TorchSharp (same samples)", $"{onnx.OnnxRuntimeScore:0.0000}, {onnx.TorchSharpScore:0.0000}");
            table.AddRow("batch-1 latency ONNX Runtime, TorchSharp", $"{onnx.OnnxRuntimeMs:0.000}, {onnx.TorchSharpMs:0.000} ms ({onnx.Speedup:0.00}x)");
        }
        AnsiConsole.Write(table);
        Directory.CreateDirectory(stage.LogDir);
        var json = Path.Combine(stage.LogDir, "summary.json");
        Trainer.Core.IO.AtomicFile.WriteAllText(json, JsonSerializer.Serialize(new
        {
            run = stage.RunName,
            model = saved.Model.Name,
            manifest = manifestPath,
            folded_batchnorms = report.FoldedPairs.Count,
            layout = saved.Layout,
            contiguous_layers = report.ContiguousLayers.Select(f => new { layer = f.Layer, batch = f.Batch, max_abs_difference = f.MaxAbsDifference, excess = f.Excess }),
            latency_ms_before = beforeMs,
            latency_ms_after = afterMs,
            speedup = beforeMs / afterMs,
            max_abs_difference = report.MaxAbsDifference,
            reload_max_abs_difference = reloadDiff,
            onnx = onnx?.Path,
            onnx_bytes = onnx?.Bytes,
            onnx_opset = onnx?.Opset,
            onnx_max_abs_difference = onnx?.MaxAbsDifference,
            onnx_check_samples = onnx?.Samples,
            onnx_runtime_score = onnx?.OnnxRuntimeScore,
            onnx_torchsharp_score = onnx?.TorchSharpScore,
            onnx_runtime_latency_ms = onnx?.OnnxRuntimeMs,
            onnx_torchsharp_latency_ms = onnx?.TorchSharpMs,
        }, new JsonSerializerOptions { WriteIndented = true }));
        _logger.LogInformation("Export report: '{Json}'.", json);
    }
}

/// <summary>What `trainer export` wrote and measured.</summary>
/// <param name="ManifestPath">The exported manifest (reload with Model:Manifest).</param>
/// <param name="FoldedBatchNorms">BatchNorms folded into convs.</param>
/// <param name="Layout">Memory layout of the export.</param>
/// <param name="LatencyMsBefore">Batch-1 median before, timed alternately with after.</param>
/// <param name="LatencyMsAfter">Batch-1 median in inference form.</param>
public sealed record ExportSummary(string ManifestPath, int FoldedBatchNorms, string Layout, double LatencyMsBefore, double LatencyMsAfter)
{
    /// <summary>Before over after.</summary>
    public double Speedup => LatencyMsBefore / LatencyMsAfter;

    /// <summary>The ONNX file written with Export:Format=onnx (checked in ONNX Runtime), or null.</summary>
    public string? OnnxPath { get; init; }

    /// <summary>The ONNX file's check and batch-1 timing, or null (no ONNX file, or a kept one without its report).</summary>
    public OnnxSummary? Onnx { get; init; }
}
