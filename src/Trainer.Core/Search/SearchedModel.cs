using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// The model a search trained on its way (NetAdapt's finetuned adopted base, AutoCompress's ADMM-trained and shrunk model), kept
/// beside its search-result.json: a weights file (checkpoint weights format, written through a temp file before the result that
/// names it) and the edits that give the factory's architecture its shapes. NNI's NetAdaptPruner returns this model; the
/// searched policy alone (<see cref="SearchResult.Best"/>) is what `trainer compress` applies to the original model.
/// </summary>
/// <param name="Weights">The weights file's name, in the folder of the search result.</param>
/// <param name="WeightsHash">First 16 hex digits of the file's SHA-256, so a replaced file is refused.</param>
/// <param name="Edits">All edits that made the model from the factory's architecture, in order.</param>
public sealed record SearchedModel(string Weights, string WeightsHash, IReadOnlyList<ModelEdit> Edits)
{
    /// <summary>The weights file name <see cref="Write"/> uses by default.</summary>
    public const string DefaultFileName = "searched-model.bin";

    /// <summary>Writes <paramref name="model"/>'s weights into <paramref name="folder"/> (atomically) and describes them; save the
    /// search result (with <c>Model</c> set to this) after, so a result never names weights that are not there.</summary>
    public static SearchedModel Write(string folder, nn.Module<Tensor, Tensor> model, IReadOnlyList<ModelEdit> edits, string fileName = DefaultFileName)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(edits);
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, fileName);
        CheckpointFile.SaveWeights(path, model);
        return new SearchedModel(fileName, Trials.TrialBase.HashOf(path), [.. edits]);
    }

    /// <summary>Rebuilds the model: the factory's architecture, <see cref="Edits"/> replayed, the weights loaded (eval mode).</summary>
    /// <param name="resultPath">The search-result.json naming this model (its folder holds the weights).</param>
    /// <param name="factory">Builds a fresh model of the original architecture.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <exception cref="InvalidDataException">The weights file is missing or replaced, or it or the edits do not fit the factory's
    /// model; the message names the file.</exception>
    public nn.Module<Tensor, Tensor> Load(string resultPath, Func<nn.Module<Tensor, Tensor>> factory, long[] inputShape)
    {
        ArgumentException.ThrowIfNullOrEmpty(resultPath);
        ArgumentNullException.ThrowIfNull(factory);
        var path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(resultPath))!, Weights);
        if (!File.Exists(path))
            throw new InvalidDataException($"The searched model's weights '{path}' (named by '{resultPath}') do not exist; keep the file beside the result.");
        if (Trials.TrialBase.HashOf(path) != WeightsHash)
            throw new InvalidDataException($"The searched model's weights '{path}' are not the ones '{resultPath}' names (hash {WeightsHash}): the file was replaced.");
        return Trials.TrialBase.RebuildFrom(path, factory, inputShape, Edits, why => new InvalidDataException(
            $"The searched model's weights '{path}' do not fit the model the factory builds with {Edits.Count} edit(s): {why}"));
    }
}
