using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Compression;
using Trainer.Core.Quantization;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer run`: the configured stages in one run folder (default: train → compress with finetuning → report). Each
/// stage hands its result to the next (the training stage's best checkpoint becomes the compress stage's model), and
/// --resume continues every stage where it stopped.
/// </summary>
public sealed class PipelineJob(IOptions<PipelineOptions> pipelineOptions, IOptions<TrainerOptions> trainerOptions,
    TrainJob train, CompressJob compress, ExportJob export, QuantizeJob quantize, Tasks.TaskProvider tasks, ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Pipeline");

    /// <summary>Runs the stages; returns the compression manifest when a compress stage ran.</summary>
    public CompressionManifest? Run()
    {
        var stages = pipelineOptions.Value.EffectiveStages;
        var folders = RunFolders.Resolve(trainerOptions.Value, logger: _logger);
        _logger.LogInformation("Pipeline '{Run}': {Stages}.", folders.RunName, string.Join(" → ", stages));
        string? checkpoint = null;
        double? trainedScore = null;
        CompressionManifest? manifest = null;
        QuantizationSummary? quantized = null;
        ExportSummary? exported = null;
        foreach (var stage in stages)
        {
            switch (stage)
            {
                case "train":
                    var result = train.Run(folders: folders);
                    checkpoint = Path.Combine(folders.CheckpointDir, "best.ckpt");
                    trainedScore = result.Metrics.GetValueOrDefault("val/" + tasks.Task.Score.Name, double.NaN);
                    break;
                case "compress":
                    manifest = compress.Run(folders, checkpoint);
                    break;
                case "export":
                    exported = export.Run(folders, manifest is null ? checkpoint : null, CompressedManifest(folders, manifest));
                    break;
                case "quantize":
                    quantized = quantize.Run(folders, manifest is null ? checkpoint : null, CompressedManifest(folders, manifest));
                    break;
            }
        }
        Report(folders, tasks.Task.Score.Name, trainedScore, manifest, quantized, exported);
        return manifest;
    }

    /// <summary>The compress stage's manifest file when that stage ran, else null.</summary>
    private static string? CompressedManifest(RunFolders folders, CompressionManifest? manifest) =>
        manifest is null ? null : Path.Combine(folders.CheckpointDir, "compress", CompressJob.ManifestFileName);

    private static void Report(RunFolders folders, string scoreName, double? trainedScore, CompressionManifest? manifest, QuantizationSummary? quantized,
        ExportSummary? exported)
    {
        var table = new Table().Title($"Pipeline {Markup.Escape(folders.RunName)}").AddColumn("stage")
            .AddColumn(new TableColumn(Markup.Escape(scoreName)).RightAligned()).AddColumn(new TableColumn("MACs").RightAligned())
            .AddColumn(new TableColumn("params").RightAligned()).AddColumn(new TableColumn("batch-1 ms").RightAligned())
            .AddColumn(new TableColumn("batch-1 speedup").RightAligned()).AddColumn(new TableColumn("weights bytes").RightAligned());
        // Speedups are timed against the stage before in alternating rounds (separate medians minutes apart drift too
        // much on a shared machine); the export's is on top of the compressed model's, ONNX Runtime's on top of the export's
        // TorchSharp time. The trained model's milliseconds are the export's "before" time scaled by the compression's speedup.
        double compressedSpeedup = manifest?.Iterations.LastOrDefault()?.Speedup ?? 1;
        string trainedMs = exported is null ? "" : $"{exported.LatencyMsBefore * compressedSpeedup:0.000}";
        var compressDir = Path.Combine(folders.CheckpointDir, "compress");
        if (trainedScore is { } score && manifest is null)
            table.AddRow("trained (TorchSharp)", $"{score:0.0000}", "", "", trainedMs, exported is null ? "" : "1.00x", Bytes(Path.Combine(folders.CheckpointDir, "best.ckpt")));
        if (manifest is not null)
        {
            var o = manifest.Original;
            table.AddRow("trained (TorchSharp)", $"{o.Score:0.0000}", $"{o.Macs:N0}", $"{o.Params:N0}", trainedMs, "1.00x",
                Bytes(Path.Combine(compressDir, "original.weights")));
            var c = manifest.Current;
            table.AddRow($"compressed ({manifest.Iterations.Count} iteration(s))", $"{c.Score:0.0000}", $"{c.Macs:N0}", $"{c.Params:N0}",
                exported is null ? "" : $"{exported.LatencyMsBefore:0.000}", $"{compressedSpeedup:0.00}x", Bytes(Path.Combine(compressDir, manifest.Weights)));
        }
        if (exported is not null)
            table.AddRow($"exported ({exported.FoldedBatchNorms} BatchNorm folded, {exported.Layout})", "", "", "", $"{exported.LatencyMsAfter:0.000}",
                $"{compressedSpeedup * exported.Speedup:0.00}x", Bytes(Path.Combine(folders.CheckpointDir, "export", ExportJob.WeightsFileName)));
        if (exported?.Onnx is { } onnx)
            table.AddRow($"exported, ONNX Runtime ({onnx.Samples} validation samples; TorchSharp there {onnx.TorchSharpScore:0.0000})",
                $"{onnx.OnnxRuntimeScore:0.0000}", "", "", $"{onnx.OnnxRuntimeMs:0.000}", $"{compressedSpeedup * exported.Speedup * onnx.Speedup:0.00}x",
                $"{onnx.Bytes:N0}");
        if (quantized is not null)
            table.AddRow($"quantized ({Markup.Escape(quantized.Quantizer)}, {quantized.SizeRatio:0.000} of the float size)",
                $"{quantized.QuantizedScore:0.0000}", "", "", "", "", $"{quantized.ExportBytes:N0}");
        AnsiConsole.Write(table);
    }

    /// <summary>A file's size for the report (best.ckpt also holds the optimizer state); empty when it is not there.</summary>
    private static string Bytes(string path) => File.Exists(path) ? $"{new FileInfo(path).Length:N0}" : "";
}
