using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// `trainer export`: puts a trained or compressed model in its inference form (BatchNorm folded into the convs, the
/// faster memory layout, output checked) and saves it as a compression manifest with one more step, "inference-form",
/// whose edits are the folds, plus its weights: any verb reloads it with Model:Manifest. The original form and the
/// inference form are timed in alternating rounds; the export is reloaded and must give the same outputs. --resume
/// keeps an export that is already there.
/// </summary>
public sealed class ExportJob(IOptions<ModelOptions> modelOptions, IOptions<TrainerOptions> trainerOptions,
    IOptions<CompressionOptions> compressionOptions, ILoggerFactory loggers)
{
    /// <summary>The compressor name of the inference-form step in the exported manifest.</summary>
    public const string Step = "inference-form";

    /// <summary>File names in the stage's checkpoint folder.</summary>
    public const string ManifestFileName = "manifest.json", WeightsFileName = "inference.weights";

    /// <summary>The memory layout chosen by timing, recorded before the export is written so a resumed run replays it.</summary>
    public const string LayoutFileName = "layout.txt";

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
        if (exists)
        {
            var kept = CompressionManifest.Load(manifestPath);
            var step = kept.Iterations.LastOrDefault(i => i.Compressor == Step)
                       ?? throw new InvalidDataException($"'{manifestPath}' has no '{Step}' step, so it is not an export; move it away and export again.");
            // Kept only if it still loads: a damaged or foreign weights file is found now, not by the next verb.
            using (CompressedModel.Load(manifestPath, ModelLoader.Creator(kept.Model, manifestPath), out _)) { }
            _logger.LogInformation("Resuming '{Run}': the export '{Path}' is already there; keeping it.", stage.RunName, manifestPath);
            double after = step.AfterFinetune.LatencyMs;
            return new ExportSummary(manifestPath, step.Edits.Count, kept.Layout, after * (step.Speedup ?? 1), after);
        }
        if (t.Threads > 0) torch.set_num_threads(t.Threads);
        var o = modelOptions.Value;
        if (o.Checkpoint.Length == 0 && o.Manifest.Length == 0 && o.PyTorchWeights.Length == 0 && checkpoint is null && manifest is null)
            throw new JobException("trainer export needs weights: set Model:Checkpoint (a checkpoint of `trainer train`), " +
                                   "Model:Manifest (a model of `trainer compress`) or Model:PyTorchWeights (a state_dict saved by PyTorch).");
        var model = ModelLoader.Load(o, _logger, checkpoint, manifest);
        if (model.Manifest?.Iterations.Any(i => i.Compressor == Step) == true)
            throw new JobException($"'{o.Manifest}' is already an inference form (it has an '{Step}' step); export its source instead.");
        var shape = model.InputShape;
        var source = model.Manifest ?? new CompressionManifest { Model = model.Identity, Original = ModelMeasurer.Size(model.Network, shape, double.NaN, double.NaN) };

        using var before = ModelCopy.Create(model.Create, shape, source.AllEdits, model.Network);
        InferenceFormReport report;
        var cacheDir = compressionOptions.Value.LatencyCacheDir is { Length: > 0 } dir ? dir : LatencyTableOptions.DefaultCacheDir();
        var choicePath = LayoutChoiceCache.PathFor(cacheDir, model.Network, shape, _logger);
        try
        {
            // An interrupted export's choice first, then this machine's earlier choice for this model: timing only the first time.
            var recorded = RecordedLayout(stage);
            var cached = recorded is null ? LayoutChoiceCache.TryLoad(choicePath, _logger) : null;
            if (cached is not null) _logger.LogInformation("Export layout {Layout}: chosen by timing on this machine earlier ('{Path}').", cached, choicePath);
            report = InferenceForm.Apply(model.Network, shape, new InferenceFormOptions { Layout = recorded ?? cached ?? MemoryLayout.Fastest }, _logger);
            RecordLayout(stage, report.Layout);
            if (recorded is null && cached is null) LayoutChoiceCache.Save(choicePath, report.Layout, _logger);
        }
        catch (InvalidOperationException e)
        {
            throw new JobException($"The inference form of '{model.Name}' does not compute what the model did: {e.Message}");
        }
        var (beforeMs, afterMs) = TimeBoth(before, model.Network, shape);

        var metrics = ModelMeasurer.Size(model.Network, shape, double.NaN, afterMs);
        var iteration = new CompressionIteration
        {
            Index = source.Iterations.Count + 1, Compressor = Step, Edits = report.Edits,
            TargetMacsRatio = (double)metrics.Macs / source.Original.Macs, AfterCompress = metrics, AfterFinetune = metrics,
            Channels = ModelMeasurer.Channels(model.Network, shape), Speedup = beforeMs / afterMs,
            Summary = $"inference form: {report}",
            TimingDecisions = [$"the memory layout: the faster of the two when first timed on this machine (cached in '{Path.GetFileName(choicePath)}')"],
        };
        var layout = report.Layout == MemoryLayout.ChannelsLast ? CompressionManifest.ChannelsLastLayout : CompressionManifest.ContiguousLayout;
        Directory.CreateDirectory(stage.CheckpointDir);
        var saved = CompressedModel.Save(manifestPath, Path.Combine(stage.CheckpointDir, WeightsFileName),
            source with
            {
                Iterations = [.. source.Iterations, iteration], Layout = layout,
                ContiguousLayers = report.ContiguousLayers.Select(f => f.Layer).ToList(),
            }, model.Network);

        double reloadDiff = ReloadDifference(manifestPath, model, shape);
        if (!(reloadDiff <= 1e-5))
            throw new JobException($"The export '{manifestPath}' does not reload to the same model (max |diff| {reloadDiff:g3}).");
        Report(stage, manifestPath, saved, report, beforeMs, afterMs, reloadDiff);
        model.Network.Dispose();
        return new ExportSummary(manifestPath, report.FoldedPairs.Count, saved.Layout, beforeMs, afterMs);
    }

    /// <summary>The layout an earlier, interrupted export of this run chose by timing; null when none was recorded.</summary>
    private MemoryLayout? RecordedLayout(RunFolders stage)
    {
        var path = Path.Combine(stage.CheckpointDir, LayoutFileName);
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        if (!Enum.TryParse<MemoryLayout>(text, out var layout) || layout == MemoryLayout.Fastest)
            throw new JobException($"'{path}' should name the export's memory layout (Contiguous or ChannelsLast), not '{text}'; delete it to time the layouts again.");
        _logger.LogInformation("Export layout {Layout} replayed from '{Path}' (chosen by timing in an earlier run).", layout, path);
        return layout;
    }

    private static void RecordLayout(RunFolders stage, MemoryLayout layout)
    {
        Directory.CreateDirectory(stage.CheckpointDir);
        Trainer.Core.IO.AtomicFile.WriteAllText(Path.Combine(stage.CheckpointDir, LayoutFileName), layout.ToString());
    }

    /// <summary>Median batch-1 milliseconds of the two models, timed in alternating rounds.</summary>
    private static (double Before, double After) TimeBoth(torch.nn.Module<torch.Tensor, torch.Tensor> before,
        torch.nn.Module<torch.Tensor, torch.Tensor> after, long[] shape)
    {
        var ms = AlternatingTimer.ForwardMs([before, after], [1, .. shape.Skip(1)], rounds: 30, callsPerRound: 5, warmupRounds: 3);
        return (ms[0], ms[1]);
    }

    /// <summary>Largest output difference between the exported model reloaded from disk and the model in memory, at batch 1
    /// and at a batch of 4 (oneDNN picks other kernels for batches).</summary>
    private double ReloadDifference(string manifestPath, LoadedModel model, long[] shape)
    {
        using var reloaded = CompressedModel.Load(manifestPath, model.Create, out _, _logger);
        using var evalReloaded = new EvalModeScope(reloaded);
        using var evalModel = new EvalModeScope(model.Network);
        using var scope = torch.NewDisposeScope();
        using var mode = torch.inference_mode();
        return new long[] { shape[0], 4 }.Max(batch =>
        {
            var input = torch.randn([batch, .. shape.Skip(1)], generator: new torch.Generator(1));
            return (reloaded.call(input) - model.Network.call(input)).abs().max().item<float>();
        });
    }

    private void Report(RunFolders stage, string manifestPath, CompressionManifest saved, InferenceFormReport report, double beforeMs,
        double afterMs, double reloadDiff)
    {
        var table = new Table().Title($"Inference form of {Markup.Escape(saved.Model.Name)} (run {Markup.Escape(stage.RunName)})")
            .AddColumn("").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("BatchNorms folded", report.FoldedPairs.Count.ToString());
        table.AddRow("memory layout", saved.Layout);
        if (report.ContiguousLayers.Count > 0)
            table.AddRow("kept NCHW (channels-last wrong on this CPU)", Markup.Escape(string.Join(", ", saved.ContiguousLayers)));
        table.AddRow("batch-1 latency before → after", $"{beforeMs:0.000} → {afterMs:0.000} ms ({beforeMs / afterMs:0.00}x)");
        table.AddRow("max |output diff| (form, reload)", $"{report.MaxAbsDifference:0.0e+00}, {reloadDiff:0.0e+00}");
        table.AddRow("manifest", Markup.Escape(manifestPath));
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
        }, new JsonSerializerOptions { WriteIndented = true }));
        _logger.LogInformation("Exported the inference form to '{Manifest}' ({Speedup:0.00}x); summary '{Json}'.", manifestPath,
            beforeMs / afterMs, json);
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
}
