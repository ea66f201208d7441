using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp.Modules;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Compression;

/// <summary>
/// The core's <see cref="IModelEditor"/>: compressors choose channels and ranks, this class changes the model's structure
/// with the project's graph (<see cref="ModelGraph"/>), shrinker (<see cref="ChannelShrinker"/>), module replacer and FLOPs
/// counter, and records every edit (<see cref="Edits"/>) so the host can save it and replay it on a fresh model.
/// </summary>
/// <remarks>The graph and the cost are built on first use and again after each edit. Not thread-safe.</remarks>
public sealed class ModelEditor : IModelEditor
{
    private readonly nn.Module<Tensor, Tensor> model;
    private readonly long[] inputShape;
    private readonly ShrinkOptions shrinkOptions;
    private readonly LayerSampler? sampler;
    private readonly IBatchLoader? trainingData;
    private readonly nn.Module<Tensor, Tensor>? referenceModel;
    private readonly ILogger logger;
    private readonly List<ModelEdit> edits = [];
    private State? state;

    /// <summary>Creates an editor of <paramref name="model"/>.</summary>
    /// <param name="model">The model to edit in place; its layers must call their children with <c>call</c>.</param>
    /// <param name="exampleInputShape">Shape of one example input, batch included (e.g. [1, 1, 28, 28]).</param>
    /// <param name="shrinkOptions">RoundTo multiple and whether the output layer may shrink; defaults when null.</param>
    /// <param name="referenceModel">The model as it was when the compression step started, for <see cref="Sample"/>; null
    /// when sampling is not offered.</param>
    /// <param name="trainingData">Batches for <see cref="Sample"/>; null when sampling is not offered.</param>
    /// <param name="logger">Receives one line per edit.</param>
    public ModelEditor(nn.Module<Tensor, Tensor> model, long[] exampleInputShape, ShrinkOptions? shrinkOptions = null,
        nn.Module<Tensor, Tensor>? referenceModel = null, IBatchLoader? trainingData = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(exampleInputShape);
        if (exampleInputShape.Length == 0 || exampleInputShape.Any(d => d <= 0))
            throw new ArgumentException($"example input shape [{string.Join(",", exampleInputShape)}] must have positive dimensions",
                nameof(exampleInputShape));
        if (ReferenceEquals(model, referenceModel))
            throw new ArgumentException("the reference model must be a separate copy (ModelCopy.Create), not the model being edited",
                nameof(referenceModel));
        this.model = model;
        inputShape = exampleInputShape.ToArray();
        this.shrinkOptions = shrinkOptions ?? new ShrinkOptions();
        this.referenceModel = referenceModel;
        this.trainingData = trainingData;
        this.logger = logger ?? NullLogger.Instance;
        if (referenceModel is not null && trainingData is not null) sampler = new LayerSampler(model, referenceModel, trainingData);
    }

    /// <summary>Every edit made so far, in order.</summary>
    public IReadOnlyList<ModelEdit> Edits => edits;

    /// <summary>The options shrinks run with.</summary>
    public ShrinkOptions ShrinkOptions => shrinkOptions;

    /// <summary>The dependency graph of the current model.</summary>
    public ModelGraph Graph => Current.Graph;

    /// <inheritdoc />
    public IReadOnlyList<ChannelGroupInfo> ChannelGroups => Current.Groups.Select(g => g.Info).ToList();

    /// <inheritdoc />
    public IReadOnlyList<WeightLayerInfo> Layers => Current.Layers;

    /// <inheritdoc />
    public ModelCost Cost => Current.Cost;

    /// <inheritdoc />
    public long MacsIfKept(IReadOnlyDictionary<string, int> keptChannelsByGroup)
    {
        ArgumentNullException.ThrowIfNull(keptChannelsByGroup);
        var current = Current;
        var masks = new Dictionary<string, bool[]>();
        foreach (var (id, kept) in keptChannelsByGroup)
        {
            var (info, group) = FindGroup(current, id);
            if (kept < info.MinKept || kept > info.Channels)
                throw new ArgumentException($"group '{id}' has {info.Channels} channels; a kept count of {kept} is outside [{info.MinKept}, {info.Channels}]" +
                    (info.MinKept > 1 ? $" (at least one channel of each of its {info.MinKept} slices must stay)" : ""),
                    nameof(keptChannelsByGroup));
            // Counted as ShrinkChannels will keep them: rounded up to the RoundTo multiple.
            var rounded = ChannelRounding.RoundKeptCount(info.Channels, kept, shrinkOptions.RoundTo);
            foreach (var (p, mask) in CountMasks.ForGroup(current.Graph, group, rounded)) masks[p] = mask;
        }
        // Refused as the shrink would refuse it; then counted by the one masked-count rule.
        var pruning = MaskValidator.Validate(current.Graph, masks, shrinkOptions);
        ShrinkPlan.Build(current.Graph, pruning);
        return MaskedCounts.Recount(model, current.Flops, current.Graph, pruning).TotalFlops;
    }

    /// <inheritdoc />
    public ShrinkSummary ShrinkChannels(IReadOnlyDictionary<string, bool[]> keptChannelsByGroup)
    {
        ArgumentNullException.ThrowIfNull(keptChannelsByGroup);
        var current = Current;
        var (masks, keptByGroup) = ProducerMasks(current, keptChannelsByGroup);
        var before = current.Cost;
        ShrinkReport report;
        try
        {
            report = ChannelShrinker.Shrink(model, current.Graph, masks, shrinkOptions);
        }
        catch (ModelAnalysisException)
        {
            state = null; // the failed forward check comes after slicing: the old graph no longer describes the model
            throw;
        }
        state = null;
        var changed = keptByGroup.Where(g => g.Value.Contains(false)).ToList();
        if (changed.Count > 0)
        {
            var counts = new Dictionary<string, int>();
            foreach (var (id, mask) in changed)
                foreach (var (p, slice) in FindGroup(current, id).Group.ProducerMasks(mask)) counts[p] = slice.Count(k => k);
            edits.Add(new ShrinkEdit(counts));
        }
        var after = Cost;
        logger.LogInformation("Shrank {Groups} group(s): MACs {Before:N0} → {After:N0}, params {PBefore:N0} → {PAfter:N0} ({Layers} layers changed)",
            changed.Count, before.Macs, after.Macs, before.Params, after.Params, report.Layers.Count);
        return new ShrinkSummary(keptByGroup, before, after);
    }

    /// <inheritdoc />
    public FactorizedLayer Factorize(string layer, int rank)
    {
        // Parameter counts only: the graph is rebuilt when next asked for, so a run of factorizations builds it once.
        long paramsBefore = model.parameters().Sum(p => p.numel());
        var result = LayerFactorizer.Factorize(model, layer, rank);
        state = null; // only after success: a refused factorization leaves the model and its graph as they were
        edits.Add(new FactorizeEdit(layer, rank));
        logger.LogInformation("Factorized {Layer} at rank {Rank}: params {Before:N0} → {After:N0}", layer, rank, paramsBefore,
            model.parameters().Sum(p => p.numel()));
        return result;
    }

    /// <inheritdoc />
    public LayerSamples Sample(string layer, SamplingOptions options)
    {
        if (trainingData is null)
            throw new InvalidOperationException("sampling needs training data, and this editor was created without any " +
                                                "(the host passes its training loader when the compressor asks for samples)");
        if (referenceModel is null)
            throw new InvalidOperationException("sampling needs the reference model (the model as the compression step found it), " +
                                                "and this editor was created without one");
        if (Current.Graph.FindLayer(layer) is { CallCount: > 1 } shared)
            throw new ArgumentException($"'{layer}' runs {shared.CallCount} times per forward pass; a shared layer cannot be sampled",
                nameof(layer));
        return sampler!.Sample(layer, options);
    }

    /// <summary>
    /// <paramref name="flags"/> with the count rounded up to a multiple of <paramref name="roundTo"/> (see
    /// <see cref="ChannelRounding.RoundKeptCount"/>); the extra channels are the first unflagged ones by index.
    /// </summary>
    public static bool[] Round(bool[] flags, int roundTo)
    {
        ArgumentNullException.ThrowIfNull(flags);
        var rounded = (bool[])flags.Clone();
        int kept = flags.Count(k => k);
        int target = ChannelRounding.RoundKeptCount(flags.Length, kept, roundTo);
        for (int c = 0; c < rounded.Length && kept < target; c++)
            if (!rounded[c]) { rounded[c] = true; kept++; }
        return rounded;
    }

    /// <summary>
    /// What <see cref="ShrinkChannels"/> would keep of each layer for the same flags, without changing the model: a pruning
    /// schedule masks the layers that follow a pruned channel (BatchNorms, depthwise convs) with it, so its masked model
    /// computes what the shrunk one will.
    /// </summary>
    internal IReadOnlyList<LayerPlan> PlanShrink(IReadOnlyDictionary<string, bool[]> keptChannelsByGroup)
    {
        ArgumentNullException.ThrowIfNull(keptChannelsByGroup);
        var current = Current;
        var (masks, _) = ProducerMasks(current, keptChannelsByGroup);
        return ShrinkPlan.Build(current.Graph, MaskValidator.Validate(current.Graph, masks, shrinkOptions));
    }

    /// <summary>Each producer's kept channels for per-group flags (rounded to the RoundTo multiple), and the rounded flags.</summary>
    private (Dictionary<string, bool[]> Masks, Dictionary<string, bool[]> KeptByGroup) ProducerMasks(State current,
        IReadOnlyDictionary<string, bool[]> keptChannelsByGroup)
    {
        var masks = new Dictionary<string, bool[]>();
        var keptByGroup = new Dictionary<string, bool[]>();
        foreach (var (id, flags) in keptChannelsByGroup)
        {
            var (info, group) = FindGroup(current, id);
            if (flags is null || flags.Length != info.Channels)
                throw new ArgumentException($"group '{id}' has {info.Channels} channels; its flags have {flags?.Length ?? 0} entries",
                    nameof(keptChannelsByGroup));
            if (!flags.Contains(true))
                throw new ArgumentException($"the flags of group '{id}' keep no channel; keep at least one", nameof(keptChannelsByGroup));
            var rounded = Round(flags, shrinkOptions.RoundTo);
            keptByGroup[id] = rounded;
            foreach (var (p, mask) in group.ProducerMasks(rounded)) masks[p] = mask;
        }
        return (masks, keptByGroup);
    }

    private State Current => state ??= State.Of(model, inputShape, shrinkOptions, logger);

    private static (ChannelGroupInfo Info, DependencyGroup Group) FindGroup(State current, string id)
    {
        var entry = current.Groups.FirstOrDefault(g => g.Info.Id == id);
        if (entry.Info is null)
            throw new ArgumentException($"no channel group '{id}'; closest group ids: " +
                string.Join(", ", NameSuggestions.Closest(id ?? "", current.Groups.Select(g => g.Info.Id))), nameof(id));
        if (entry.Info.BlockedBy is { } reason)
            throw new ArgumentException($"group '{id}' cannot be shrunk: {reason}", nameof(id));
        return entry;
    }

    /// <summary>What is known of the model between two edits.</summary>
    private sealed record State(ModelGraph Graph, FlopsReport Flops, IReadOnlyList<(ChannelGroupInfo Info, DependencyGroup Group)> Groups,
        IReadOnlyList<WeightLayerInfo> Layers, ModelCost Cost)
    {
        public static State Of(nn.Module<Tensor, Tensor> model, long[] inputShape, ShrinkOptions options, ILogger logger)
        {
            var graph = ModelGraph.Build(model, inputShape, logger);
            var flops = FlopsCounter.Count(model, inputShape);
            var macsByLayer = new Dictionary<string, long>();
            foreach (var row in flops.Layers) macsByLayer[row.Name] = macsByLayer.GetValueOrDefault(row.Name) + row.Flops;
            var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
            var layers = new List<WeightLayerInfo>();
            foreach (var layer in graph.Layers)
            {
                long macs = macsByLayer.GetValueOrDefault(layer.Name);
                var info = modules.GetValueOrDefault(layer.Name) switch
                {
                    Convolution c => ConvInfo(layer, c, macs),
                    Linear l => new WeightLayerInfo(layer.Name, "Linear", (int)l.in_features, (int)l.out_features, (1, 1), 1, macs,
                        layer.OutputShape) { Kernel = [] },
                    _ => null,
                };
                if (info is not null) layers.Add(info);
            }
            long parameters = model.parameters().Sum(p => p.numel());
            return new State(graph, flops, ChannelGroupCatalog.Describe(graph, options), layers, new ModelCost(flops.TotalFlops, parameters));
        }

        /// <summary>A Conv1d/2d/3d or ConvTranspose1d/2d/3d in the contract's terms; kernel sizes from the weight's trailing dims.</summary>
        private static WeightLayerInfo ConvInfo(LayerInfo layer, Convolution conv, long macs)
        {
            var kernel = conv.weight.shape.Skip(2).Select(k => (int)k).ToArray();
            var plane = kernel.Length switch { 0 => (1, 1), 1 => (1, kernel[0]), _ => (kernel[^2], kernel[^1]) };
            return new WeightLayerInfo(layer.Name, conv.GetType().Name, (int)conv.in_channels, (int)conv.out_channels, plane,
                (int)conv.groups, macs, layer.OutputShape) { Kernel = kernel };
        }
    }
}
