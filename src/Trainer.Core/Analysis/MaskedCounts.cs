using Trainer.Core.Graph;
using static TorchSharp.torch;
using TorchModule = TorchSharp.torch.nn.Module;

namespace Trainer.Core.Analysis;

/// <summary>
/// The one rule for counting a model under channel masks, without changing it: the unmasked count's rows are counted again
/// with <see cref="LayerRules"/>, each masked Conv/Linear at its kept output channels and each layer the dependency graph
/// reaches (consumers, BatchNorms, depthwise convs) at its live input channels. An input position is live unless every
/// producer whose channels arrive there drops that channel: the graph's edges follow channels through residual adds,
/// concatenations (offsets), flattens (blocks) and any container, which hooks on tensors cannot see. A masked layer counts
/// its own kept outputs even where a coupled producer keeps the channel alive for its consumers (NNI's per-layer view).
/// <see cref="FlopsCounter"/> (Analyze:Masks) and the model editor's MACs of a planned shrink both count with it.
/// </summary>
internal static class MaskedCounts
{
    /// <summary>Counts <paramref name="unmasked"/>'s rows again under <paramref name="outputMasks"/> (layer → kept output channels).</summary>
    /// <param name="model">The model the report counted.</param>
    /// <param name="unmasked">Its count without masks.</param>
    /// <param name="graph">Its dependency graph at the same input shape.</param>
    /// <param name="outputMasks">Kept output channels per Conv/Linear (module path → one flag per channel).</param>
    public static FlopsReport Recount(nn.Module<Tensor, Tensor> model, FlopsReport unmasked, ModelGraph graph,
        IReadOnlyDictionary<string, bool[]> outputMasks)
    {
        var modules = new Dictionary<string, TorchModule>(StringComparer.Ordinal);
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);
        var live = LiveInputs(graph, outputMasks);
        var rows = new List<LayerCount>(unmasked.Layers.Count);
        foreach (var row in unmasked.Layers)
        {
            if (!modules.TryGetValue(row.Name, out var module)) { rows.Add(row); continue; }
            var spec = LayerRules.Describe(row.Name, module);
            if (outputMasks.TryGetValue(row.Name, out var mask)) spec.KeptOutputs = mask.LongCount(k => k);
            var inState = live.TryGetValue(row.Name, out var kept) ? InputState(spec, row.InputShape, kept) : null;
            if (spec.KeptOutputs is null && inState is null) { rows.Add(row); continue; }
            var (flops, parameters) = LayerRules.Count(spec, unmasked.Mode, row.InputShape, row.OutputShape, inState);
            rows.Add(row with { Flops = flops, Params = parameters });
        }
        return new FlopsReport(rows, unmasked.Mode);
    }

    /// <summary>Live input positions of every layer reached by a masked producer: (live, width).</summary>
    private static Dictionary<string, (long Live, long Width)> LiveInputs(ModelGraph graph, IReadOnlyDictionary<string, bool[]> masks)
    {
        var result = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var target in graph.Edges.Where(e => masks.ContainsKey(e.Producer)).Select(e => e.Target).Distinct())
        {
            var incoming = graph.EdgesTo(target);
            long width = incoming[0].TargetWidth;
            var covered = new bool[width];
            var alive = new bool[width];
            foreach (var edge in incoming)
            {
                var mask = masks.GetValueOrDefault(edge.Producer);
                for (long c = 0; c < edge.ProducerChannels; c++)
                {
                    long start = edge.Mapping.Start(c);
                    for (long i = start; i < start + edge.Mapping.BlockSize && i < width; i++)
                    {
                        covered[i] = true;
                        if (mask is null || mask[c]) alive[i] = true;
                    }
                }
            }
            // Positions no producer covers (the model's input, a branch the graph does not follow) stay.
            long live = Enumerable.Range(0, (int)width).LongCount(i => alive[i] || !covered[i]);
            if (live < width) result[target] = (live, width);
        }
        return result;
    }

    // Convs and norms read channels on axis 1; a Linear reads its last axis (features after a flatten).
    private static ChannelState? InputState(LayerSpec spec, long[] inShape, (long Live, long Width) kept)
    {
        int axis = spec.Kind == LayerKind.Linear ? inShape.Length - 1 : 1;
        return axis < inShape.Length && inShape[axis] == kept.Width ? new ChannelState(kept.Live, kept.Width, axis) : null;
    }
}
