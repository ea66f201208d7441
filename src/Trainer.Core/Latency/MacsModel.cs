using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// Multiply-accumulates (Conv2d/Linear, <see cref="CountMode.Default"/>) of the model after its groups are narrowed,
/// computed without touching the model: <see cref="FlopsCounter"/> counts the model once, and each layer's count is
/// scaled by its kept fraction of output channels (its own group) and of input channels (the groups that reach it,
/// through the graph's edges). A Conv2d with groups = 1 or a Linear is bilinear in those two counts, so the result is
/// exact, and equals <see cref="FlopsCounter"/>'s count of the shrunk model.
/// </summary>
/// <remarks>
/// The allocators' fast form of the masked count (<see cref="MaskedCounts"/>, which <see cref="FlopsCounter"/> uses with
/// masks): kept counts per group instead of masks, so a candidate costs a few multiplications instead of a recount; the
/// allocators try thousands. Tests hold the two equal on plain, residual and concatenating models.
/// </remarks>
public sealed class MacsModel
{
    private readonly List<Row> rows;

    private MacsModel(List<Row> rows, long total)
    {
        this.rows = rows;
        FullMacs = total;
    }

    /// <summary>MACs of the model as it is.</summary>
    public long FullMacs { get; }

    /// <summary>Counts <paramref name="model"/> once and links each counted layer to the allocatable groups of <paramref name="graph"/>.</summary>
    public static MacsModel Build(nn.Module<Tensor, Tensor> model, ModelGraph graph, IReadOnlyList<AllocatableGroup> groups)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(groups);
        var report = FlopsCounter.Count(model, graph.InputShape.ToArray());
        var groupOfProducer = groups.SelectMany(g => g.Producers.Select(p => (p, g))).ToDictionary(x => x.p, x => x.g);
        var rows = new List<Row>();
        foreach (var count in report.Layers)
        {
            var layer = graph.FindLayer(count.Name);
            if (layer is null || layer.CallCount != 1) { rows.Add(new Row(count.Flops, null, null, [])); continue; }
            AllocatableGroup? outGroup = groupOfProducer.GetValueOrDefault(layer.Name);
            // A depthwise conv carries its input group's channels: its count scales with them once, as output.
            bool depthwise = layer.Kind == Graph.LayerKind.DepthwiseConv;
            var inputs = new List<(AllocatableGroup Group, long Block)>();
            long width = 1;
            foreach (var byGroup in graph.EdgesTo(layer.Name).Where(e => e.Role != EdgeRole.Unsupported)
                         .Where(e => groupOfProducer.ContainsKey(e.Producer))
                         .GroupBy(e => (groupOfProducer[e.Producer].Id, e.Mapping)))
            {
                var edge = byGroup.First();
                width = edge.TargetWidth;
                var group = groupOfProducer[edge.Producer];
                if (depthwise) outGroup ??= group;
                else inputs.Add((group, edge.Mapping.BlockSize));
            }
            rows.Add(new Row(count.Flops, outGroup, inputs.Count > 0 ? width : null, inputs));
        }
        return new MacsModel(rows, report.TotalFlops);
    }

    /// <summary>MACs when each group in <paramref name="kept"/> keeps that many channels (others keep all).</summary>
    /// <param name="kept">Group id → kept channel count.</param>
    public long Macs(IReadOnlyDictionary<string, int> kept)
    {
        ArgumentNullException.ThrowIfNull(kept);
        Int128 total = 0;
        foreach (var row in rows)
        {
            Int128 numerator = row.Macs, denominator = 1;
            if (row.OutGroup is { } og && kept.TryGetValue(og.Id, out int k))
            {
                numerator *= k;
                denominator *= og.Channels;
            }
            if (row.InWidth is long width)
            {
                long removed = 0;
                foreach (var (group, block) in row.Inputs)
                    if (kept.TryGetValue(group.Id, out int ki)) removed += (group.Channels - ki) * block;
                numerator *= width - removed;
                denominator *= width;
            }
            total += numerator / denominator;
        }
        return (long)total;
    }

    /// <summary>One counted layer: its full MACs, the group that sets its outputs, and the groups that reach its input.</summary>
    private sealed record Row(long Macs, AllocatableGroup? OutGroup, long? InWidth, List<(AllocatableGroup Group, long Block)> Inputs);
}
