using Microsoft.Extensions.Logging;
using Trainer.Core.Compression;
using Trainer.Core.Latency;
using Trainer.Core.Models;
using TorchSharp;

namespace Trainer.Core.Inference;

/// <summary>What an export wrote and measured.</summary>
/// <param name="ManifestPath">The exported manifest (<see cref="CompressedModel.Load"/> rebuilds the model from it).</param>
/// <param name="Manifest">Its content: the source's steps plus one "inference-form" step whose edits are the folds.</param>
/// <param name="Form">What the inference form did; null for an export that was kept from an earlier run.</param>
/// <param name="LatencyMsBefore">Batch-1 median before, timed alternately with after.</param>
/// <param name="LatencyMsAfter">Batch-1 median in inference form.</param>
/// <param name="ReloadMaxAbsDifference">Largest output difference between the export reloaded from disk and the model in memory
/// (NaN for a kept export).</param>
public sealed record ExportOutcome(string ManifestPath, CompressionManifest Manifest, InferenceFormReport? Form, double LatencyMsBefore,
    double LatencyMsAfter, double ReloadMaxAbsDifference)
{
    /// <summary>Before over after.</summary>
    public double Speedup => LatencyMsBefore / LatencyMsAfter;

    /// <summary>BatchNorms folded into convs.</summary>
    public int FoldedBatchNorms => Manifest.Iterations.LastOrDefault(i => i.Compressor == InferenceExport.Step)?.Edits.Count ?? 0;
}

/// <summary>
/// Puts a trained or compressed model in its inference form (BatchNorm folded into the convs, the faster memory layout,
/// output checked) and saves it as a compression manifest with one more step, "inference-form", plus its weights; the
/// original and the inference form are timed in alternating rounds, and the export is reloaded and must give the same
/// outputs. The layout chosen by timing is recorded before the export is written (an interrupted export replays it) and
/// cached per machine (the next export of the same model on this machine needs no timing).
/// </summary>
public sealed class InferenceExport(ILogger logger)
{
    /// <summary>The compressor name of the inference-form step in the exported manifest.</summary>
    public const string Step = "inference-form";

    /// <summary>File names in the export's folder.</summary>
    public const string ManifestFileName = "manifest.json", WeightsFileName = "inference.weights", LayoutFileName = "layout.txt";

    /// <summary>Exports <paramref name="model"/> (changed in place into its inference form) into <paramref name="folder"/>;
    /// <paramref name="latencyCacheDir"/> holds this machine's cached layout choices.</summary>
    /// <exception cref="ArgumentException">The model is already an inference form.</exception>
    /// <exception cref="InvalidOperationException">The inference form does not compute what the model did.</exception>
    /// <exception cref="InvalidDataException">The export does not reload to the same model, or a recorded layout is damaged.</exception>
    public ExportOutcome Export(LoadedModel model, string folder, string latencyCacheDir)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Manifest?.Iterations.Any(i => i.Compressor == Step) == true)
            throw new ArgumentException($"the model is already an inference form (its manifest has an '{Step}' step); export its source instead.");
        var shape = model.InputShape;
        var source = model.Manifest ?? new CompressionManifest { Model = model.Identity, Original = ModelMeasurer.Size(model.Network, shape, double.NaN, double.NaN) };
        var manifestPath = Path.Combine(folder, ManifestFileName);

        using var before = ModelCopy.Create(model.Create, shape, source.AllEdits, model.Network);
        var choicePath = LayoutChoiceCache.PathFor(latencyCacheDir, model.Network, shape, logger);
        // An interrupted export's choice first, then this machine's earlier choice for this model: timing only the first time.
        var recorded = RecordedLayout(folder);
        var cached = recorded is null ? LayoutChoiceCache.TryLoad(choicePath, logger) : null;
        if (cached is not null) logger.LogInformation("Export layout {Layout}: chosen by timing on this machine earlier ('{Path}').", cached, choicePath);
        var form = InferenceForm.Apply(model.Network, shape, new InferenceFormOptions { Layout = recorded ?? cached ?? MemoryLayout.Fastest }, logger);
        Directory.CreateDirectory(folder);
        IO.AtomicFile.WriteAllText(Path.Combine(folder, LayoutFileName), form.Layout.ToString());
        if (recorded is null && cached is null) LayoutChoiceCache.Save(choicePath, form.Layout, logger);
        var ms = AlternatingTimer.ForwardMs([before, model.Network], [1, .. shape.Skip(1)], rounds: 30, callsPerRound: 5, warmupRounds: 3);
        var (beforeMs, afterMs) = (ms[0], ms[1]);

        var metrics = ModelMeasurer.Size(model.Network, shape, double.NaN, afterMs);
        var iteration = new CompressionIteration
        {
            Index = source.Iterations.Count + 1, Compressor = Step, Edits = form.Edits,
            TargetMacsRatio = (double)metrics.Macs / source.Original.Macs, AfterCompress = metrics, AfterFinetune = metrics,
            Channels = ModelMeasurer.Channels(model.Network, shape), Speedup = beforeMs / afterMs,
            Summary = $"inference form: {form}",
            TimingDecisions = [$"the memory layout: the faster of the two when first timed on this machine (cached in '{Path.GetFileName(choicePath)}')"],
        };
        var layout = form.Layout == MemoryLayout.ChannelsLast ? CompressionManifest.ChannelsLastLayout : CompressionManifest.ContiguousLayout;
        var saved = CompressedModel.Save(manifestPath, Path.Combine(folder, WeightsFileName),
            source with
            {
                Iterations = [.. source.Iterations, iteration], Layout = layout,
                ContiguousLayers = form.ContiguousLayers.Select(f => f.Layer).ToList(),
            }, model.Network);

        double reloadDiff = ReloadDifference(manifestPath, model, shape);
        if (!(reloadDiff <= 1e-5))
            throw new InvalidDataException($"The export '{manifestPath}' does not reload to the same model (max |diff| {reloadDiff:g3}).");
        logger.LogInformation("Exported the inference form to '{Manifest}' ({Speedup:0.00}x).", manifestPath, beforeMs / afterMs);
        return new ExportOutcome(manifestPath, saved, form, beforeMs, afterMs, reloadDiff);
    }

    /// <summary>The export already in <paramref name="folder"/>, checked to load with <paramref name="create"/> (the original
    /// architecture): a damaged or foreign weights file is found now, not by the next step.</summary>
    /// <exception cref="InvalidDataException">It is not an export, or does not load.</exception>
    public ExportOutcome Kept(string folder, Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create)
    {
        var manifestPath = Path.Combine(folder, ManifestFileName);
        var kept = CompressionManifest.Load(manifestPath);
        var step = kept.Iterations.LastOrDefault(i => i.Compressor == Step)
                   ?? throw new InvalidDataException($"'{manifestPath}' has no '{Step}' step, so it is not an export; move it away and export again.");
        using (CompressedModel.Load(manifestPath, create, out _)) { }
        logger.LogInformation("The export '{Path}' is already there; keeping it.", manifestPath);
        double after = step.AfterFinetune.LatencyMs;
        return new ExportOutcome(manifestPath, kept, null, after * (step.Speedup ?? 1), after, double.NaN);
    }

    /// <summary>The layout an earlier, interrupted export into <paramref name="folder"/> chose by timing; null when none was recorded.</summary>
    /// <exception cref="InvalidDataException">The record names no layout (the message names the file and the fix).</exception>
    public MemoryLayout? RecordedLayout(string folder)
    {
        var path = Path.Combine(folder, LayoutFileName);
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        if (!Enum.TryParse<MemoryLayout>(text, out var layout) || layout == MemoryLayout.Fastest)
            throw new InvalidDataException($"'{path}' should name the export's memory layout (Contiguous or ChannelsLast), not '{text}'; delete it to time the layouts again.");
        logger.LogInformation("Export layout {Layout} replayed from '{Path}' (chosen by timing in an earlier run).", layout, path);
        return layout;
    }

    /// <summary>Largest output difference between the exported model reloaded from disk and the model in memory, at batch 1
    /// and at a batch of 4 (oneDNN picks other kernels for batches).</summary>
    private double ReloadDifference(string manifestPath, LoadedModel model, long[] shape)
    {
        using var reloaded = CompressedModel.Load(manifestPath, model.Create, out _, logger);
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
}
