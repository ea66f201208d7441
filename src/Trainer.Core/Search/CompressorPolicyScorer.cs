using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Tasks;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// A scorer that prunes each copy with a compressor plugin instead of the built-in L1 selection: the policy's kept counts go
/// to the compressor as its per-group keep ratios (<see cref="CompressionRequest.GroupKeepRatios"/>), so it decides which
/// channels go and may rebuild what is left (channel-pruning's LASSO selection and least-squares reconstruction, as AMC's
/// environment reconstructs each pruned layer), and the copy is scored on held-out data without finetuning.
/// </summary>
/// <remarks>The compressor must honour keep ratios (<see cref="ICompressor.UsesGroupKeepRatios"/>); a copy whose groups end
/// with other counts than the policy's is refused, since its score would be another policy's. The compressor samples its
/// layers on <c>samples</c> (training batches, never the held-out ones) with the unchanged model as the reference.</remarks>
public sealed class CompressorPolicyScorer : PrunedCopyScorer
{
    private readonly ICompressor compressor;
    private readonly IReadOnlyDictionary<string, string> settings;
    private readonly Func<nn.Module<Tensor, Tensor>> factory;
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly IReadOnlyList<ModelEdit> edits;
    private readonly long[] inputShape;
    private readonly IBatchLoader samples;
    private readonly int roundTo;
    private readonly ILogger logger;

    /// <summary>A scorer of policies for <paramref name="model"/> that prunes with <paramref name="compressor"/>.</summary>
    /// <param name="task">Scores each pruned copy; a lower-is-better score is negated (searches maximise).</param>
    /// <param name="compressor">Decides which channels each group keeps (and may refit the rest); must honour keep ratios.</param>
    /// <param name="settings">The compressor's settings (as under Compression:Settings); its own ratios must not be set.</param>
    /// <param name="factory">Builds a fresh model of the original architecture (for the copies).</param>
    /// <param name="model">The model to prune copies of, and the compressor's reference; not changed.</param>
    /// <param name="inputShape">Example input shape, batch included.</param>
    /// <param name="samples">Training batches the compressor samples layers on.</param>
    /// <param name="heldOut">The batches each copy is scored on: a held-out part of the training set.</param>
    /// <param name="roundTo">Channel multiple the editor rounds kept counts to (use the search space's).</param>
    /// <param name="edits">Edits that made <paramref name="model"/> from the factory's architecture (none by default).</param>
    /// <param name="recalibration">Re-estimates each pruned copy's BatchNorm statistics before it is scored (none by default).</param>
    /// <param name="logger">Receives the compressor's log (nothing by default: a search prunes hundreds of copies).</param>
    public CompressorPolicyScorer(TrainingTask task, ICompressor compressor, IReadOnlyDictionary<string, string> settings,
        Func<nn.Module<Tensor, Tensor>> factory, nn.Module<Tensor, Tensor> model, long[] inputShape, IBatchLoader samples, IBatchLoader heldOut,
        int roundTo = 1, IReadOnlyList<ModelEdit>? edits = null, BatchNormRecalibration? recalibration = null, ILogger? logger = null)
        : base(task, heldOut, recalibration)
    {
        this.compressor = compressor ?? throw new ArgumentNullException(nameof(compressor));
        this.settings = settings ?? throw new ArgumentNullException(nameof(settings));
        this.factory = factory ?? throw new ArgumentNullException(nameof(factory));
        this.model = model ?? throw new ArgumentNullException(nameof(model));
        this.inputShape = inputShape ?? throw new ArgumentNullException(nameof(inputShape));
        this.samples = samples ?? throw new ArgumentNullException(nameof(samples));
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
        if (!compressor.UsesGroupKeepRatios)
            throw new ArgumentException($"compressor '{compressor.Name}' sizes its layers itself, so it cannot prune to a searched policy; " +
                                        "use a compressor that takes per-group keep ratios (channel-pruning)", nameof(compressor));
        compressor.CheckSettings(settings);
        this.roundTo = roundTo;
        this.edits = edits ?? [];
        this.logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> PrunedCopy(IReadOnlyDictionary<string, int> keptChannels)
    {
        ArgumentNullException.ThrowIfNull(keptChannels);
        var copy = ModelCopy.Create(factory, inputShape, edits, model);
        nn.Module<Tensor, Tensor>? pruned = null;
        try
        {
            var editor = new ModelEditor(copy, inputShape, new ShrinkOptions { RoundTo = roundTo }, model, samples);
            var widths = editor.ChannelGroups.ToDictionary(g => g.Id, g => g.Channels);
            var ratios = Narrowed(editor.ChannelGroups, keptChannels).ToDictionary(n => n.Group.Id, n => (double)n.Kept / n.Group.Channels);
            pruned = ratios.Count == 0 ? copy : compressor.Compress(new CompressionRequest
            {
                Model = copy,
                ExampleInputShape = inputShape,
                TrainingData = samples,
                Settings = settings,
                Editor = editor,
                GroupKeepRatios = ratios,
                Score = Task.Score,
                Logger = logger,
            }).Model;
            CheckCounts(editor, keptChannels, widths);
            pruned.eval();
            return pruned;
        }
        catch
        {
            if (pruned is not null && !ReferenceEquals(pruned, copy)) pruned.Dispose();
            throw;
        }
        finally
        {
            if (!ReferenceEquals(pruned, copy)) copy.Dispose();
        }
    }

    private void CheckCounts(ModelEditor editor, IReadOnlyDictionary<string, int> keptChannels, Dictionary<string, int> widths)
    {
        foreach (var group in editor.ChannelGroups)
        {
            if (!keptChannels.TryGetValue(group.Id, out var wanted)) continue;
            // The editor rounds a kept count up to the channel multiple (at most the group's width), as the L1 scorer's shrink does.
            if (group.Channels != wanted && group.Channels != Math.Min(RoundUp(wanted), widths[group.Id]))
                throw new InvalidOperationException($"compressor '{compressor.Name}' left group '{group.Id}' with {group.Channels} channels where the " +
                                                    $"policy keeps {wanted}; a search scores the policy it proposed, so the pruner must keep the " +
                                                    "counts it is given (check its settings: accuracy_first, skip_layers, ratios)");
        }
    }

    private int RoundUp(int kept) => (kept + roundTo - 1) / roundTo * roundTo;
}
