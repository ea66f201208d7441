using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>
/// Replays recorded edits on a freshly built model of the original architecture, so that the compressed model's
/// state_dict loads into it: a shrink keeps the first k channels of each listed producer (which ones does not matter, the
/// weights are loaded afterwards), a factorization replaces the layer by the same two-layer Sequential.
/// </summary>
public static class EditReplay
{
    /// <summary>Applies <paramref name="edits"/> to <paramref name="model"/> in order.</summary>
    /// <param name="model">A model of the architecture the edits were recorded on, not yet edited.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="edits">The recorded edits (<see cref="ModelEditor.Edits"/> or <see cref="ModelEdits.Load"/>).</param>
    /// <param name="logger">Receives one line per edit.</param>
    /// <exception cref="ManifestMismatchException">An edit does not fit: unknown layer, more channels than the layer has, a rank too
    /// high. The message names the edit's index, the layer and the mismatch. Edits before it have been applied.</exception>
    public static void Apply(nn.Module<Tensor, Tensor> model, long[] inputShape, IReadOnlyList<ModelEdit> edits, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(edits);
        logger ??= NullLogger.Instance;
        for (int i = 0; i < edits.Count; i++)
        {
            switch (edits[i])
            {
                case ShrinkEdit shrink:
                    Shrink(model, inputShape, i, shrink, logger);
                    break;
                case FactorizeEdit factorize:
                    try
                    {
                        LayerFactorizer.Factorize(model, factorize.Layer, factorize.Rank);
                    }
                    catch (ArgumentException e)
                    {
                        throw new ManifestMismatchException(i, factorize, factorize.Layer, e.Message, e);
                    }
                    break;
                case FoldBatchNormEdit fold:
                    try
                    {
                        Inference.BatchNormFolder.Replay(model, fold);
                    }
                    catch (ArgumentException e)
                    {
                        throw new ManifestMismatchException(i, fold, fold.Conv, e.Message, e);
                    }
                    break;
                default:
                    throw new ArgumentException($"edit {i} is a {edits[i]?.GetType().Name ?? "null"}, which cannot be replayed", nameof(edits));
            }
            logger.LogDebug("Replayed edit {Index}: {Edit}", i, edits[i]);
        }
    }

    private static void Shrink(nn.Module<Tensor, Tensor> model, long[] inputShape, int index, ShrinkEdit edit, ILogger logger)
    {
        var graph = ModelGraph.Build(model, inputShape, logger);
        var producers = graph.Producers.ToHashSet();
        var masks = new Dictionary<string, bool[]>();
        foreach (var (producer, kept) in edit.KeptChannelsByProducer)
        {
            if (!producers.Contains(producer))
                throw new ManifestMismatchException(index, edit, producer, "the model has no such convolution or Linear producer; closest: " +
                    string.Join(", ", NameSuggestions.Closest(producer, graph.Producers)));
            long channels = graph.GroupOf(producer).SliceOf(producer).Count;
            if (kept < 1 || kept > channels)
                throw new ManifestMismatchException(index, edit, producer, $"the edit keeps {kept} channels, the layer has {channels}");
        }
        foreach (var group in edit.KeptChannelsByProducer.Keys.Select(graph.GroupOf).Distinct())
        {
            var mask = CountMasks.FromProducerCounts(graph, group, edit.KeptChannelsByProducer, out var why)
                ?? throw new ManifestMismatchException(index, edit, string.Join(", ", group.Producers), why!);
            foreach (var (producer, slice) in group.ProducerMasks(mask))
                if (edit.KeptChannelsByProducer.ContainsKey(producer)) masks[producer] = slice;
        }
        try
        {
            // The recorded edit is the authority: it may have shrunk the output layer, and its counts were rounded when recorded.
            ChannelShrinker.Shrink(model, graph, masks, new ShrinkOptions { AllowOutputLayer = true, RoundTo = 1 });
        }
        catch (ArgumentException e)
        {
            throw new ManifestMismatchException(index, edit, string.Join(", ", edit.KeptChannelsByProducer.Keys), e.Message, e);
        }
    }
}
