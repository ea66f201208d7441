using Trainer.Core.Checkpoints;
using TorchSharp;

namespace Trainer.Core.Compression;

/// <summary>Saves and reloads a compressed model as a manifest plus a weights file beside it.</summary>
public static class CompressedModel
{
    /// <summary>Fraction of the weight bytes the sparse encoding must save for <see cref="Save"/> to write a
    /// <see cref="Pruning.SparseWeightsFile"/> instead of a dense weights checkpoint (about 28 % zeros in the float tensors).</summary>
    public const double SparseStorageThreshold = 0.25;

    /// <summary>
    /// Writes <paramref name="network"/>'s weights to <paramref name="weightsPath"/> (sparse-encoded when that saves at least
    /// <see cref="SparseStorageThreshold"/> of the bytes) and then <paramref name="manifest"/> (pointing at
    /// the weights by file name) to <paramref name="manifestPath"/>, each through a temporary file, weights first: a crash
    /// in between leaves the previous manifest valid.
    /// </summary>
    public static CompressionManifest Save(string manifestPath, string weightsPath, CompressionManifest manifest,
        torch.nn.Module<torch.Tensor, torch.Tensor> network)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        if (Path.GetDirectoryName(Path.GetFullPath(weightsPath)) != folder)
            throw new ArgumentException($"The weights file '{weightsPath}' must sit beside the manifest '{manifestPath}'.", nameof(weightsPath));
        // Weights are stored contiguous; a channels-last model gets its layout back after saving (and on loading).
        int channelsLast = Inference.ChannelsLast.RestoreConvWeights(network);
        try
        {
            // Unstructured sparsity (a pruned model made permanent) is stored compressed when that saves a quarter of the bytes;
            // CheckpointFile.LoadWeights reads either kind.
            if (Pruning.SparseWeightsFile.Saving(network) >= SparseStorageThreshold)
            {
                Pruning.SparseWeightsFile.ClearNegativeZeros(network);   // −0.0 and +0.0 compute alike; only +0.0 is left out
                Pruning.SparseWeightsFile.Save(weightsPath, network);
            }
            else CheckpointFile.SaveWeights(weightsPath, network);
        }
        finally
        {
            if (channelsLast > 0) Inference.ChannelsLast.ConvertConvWeights(network);
        }
        var saved = manifest with { Weights = Path.GetFileName(weightsPath) };
        saved.Save(manifestPath);
        return saved;
    }

    /// <summary>
    /// Builds the original architecture with <paramref name="create"/>, replays the manifest's edits and loads its weights.
    /// A manifest that does not fit the architecture, or weights that do not fit the rebuilt model, throw before the
    /// model is returned (<see cref="ManifestMismatchException"/>, <see cref="CheckpointException"/>), naming the files.
    /// </summary>
    /// <remarks>A channels-last manifest is checked on this machine: its <see cref="CompressionManifest.ContiguousLayers"/> and
    /// every conv whose channels-last result is wrong here stay NCHW (<see cref="Inference.ChannelsLastGuard"/>).</remarks>
    public static torch.nn.Module<torch.Tensor, torch.Tensor> Load(string manifestPath, Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create,
        out CompressionManifest manifest, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        manifest = CompressionManifest.Load(manifestPath);
        if (manifest.Weights.Length == 0)
            throw new InvalidDataException($"Compression manifest '{manifestPath}' names no weights file.");
        if (manifest.Layout is not (CompressionManifest.ChannelsLastLayout or CompressionManifest.ContiguousLayout))
            throw new InvalidDataException($"Compression manifest '{manifestPath}' has layout '{manifest.Layout}'; known: " +
                                           $"{CompressionManifest.ContiguousLayout}, {CompressionManifest.ChannelsLastLayout}.");
        var model = Rebuild(manifest, manifestPath, create);
        var weights = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, manifest.Weights);
        try
        {
            CheckpointFile.LoadWeights(weights, model);
        }
        catch (CheckpointException e) when (e.DoesNotFit)
        {
            model.Dispose();
            // Either file may be the wrong one: the manifest describes the shapes, the weights file must have them.
            throw new CheckpointException($"The weights do not fit the model that compression manifest '{manifestPath}' describes " +
                                          $"(the manifest or the weights come from another model or run): {e.Message}", doesNotFit: true);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        if (manifest.Layout == CompressionManifest.ChannelsLastLayout)
        {
            // A layout checked on the machine that exported it is checked again here: oneDNN's kernels differ by CPU.
            var unknown = manifest.ContiguousLayers.Except(model.named_modules().Where(m => m.module is TorchSharp.Modules.Conv2d).Select(m => m.name)).ToList();
            if (unknown.Count > 0)
            {
                model.Dispose();
                throw new InvalidDataException($"Compression manifest '{manifestPath}' keeps NCHW for '{string.Join("', '", unknown)}', " +
                                               "which the rebuilt model has no Conv2d of.");
            }
            Inference.ChannelsLastGuard.PinFaultyConvs(model, manifest.Model.InputShape, alsoContiguous: manifest.ContiguousLayers, logger: logger);
            Inference.ChannelsLast.ConvertConvWeights(model);
        }
        return model;
    }

    /// <summary>
    /// A fresh model of the original architecture (<paramref name="create"/>) with <paramref name="manifest"/>'s edits replayed
    /// and no weights loaded; a mismatch is a <see cref="ManifestMismatchException"/> naming <paramref name="source"/>, the file
    /// the manifest was read from.
    /// </summary>
    public static torch.nn.Module<torch.Tensor, torch.Tensor> Rebuild(CompressionManifest manifest, string source,
        Func<torch.nn.Module<torch.Tensor, torch.Tensor>> create)
    {
        // The weights are loaded over the fresh ones: rebuilding must not move the training's random generator.
        using var rng = Training.RandomState.Preserve();
        var model = create();
        try
        {
            EditReplay.Apply(model, manifest.Model.InputShape, manifest.AllEdits);
            return model;
        }
        catch (ManifestMismatchException e)
        {
            model.Dispose();
            throw e.InFile(source);
        }
    }
}
