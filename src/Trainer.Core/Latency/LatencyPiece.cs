using System.Globalization;
using System.Text;
using TorchSharp.Modules;
using Trainer.Core.Graph;
using static TorchSharp.torch;
using TorchModule = TorchSharp.torch.nn.Module;

namespace Trainer.Core.Latency;

/// <summary>
/// How to time one <see cref="LatencyUnit"/>: the producer's module, its BatchNorm, the parameter-free layers after it,
/// which groups set its input and output widths, and the grid. Pieces of equal <see cref="Signature"/> time the same.
/// </summary>
internal sealed record LatencyPiece(LayerInfo Producer, TorchModule Module, NormBase? Norm, string? NormName, IReadOnlyList<(string Name, TorchModule Module)> Trailing,
    AllocatableGroup? InGroup, long InBlock, int[] InCounts, AllocatableGroup? OutGroup, int[] OutCounts, string Signature)
{
    /// <summary>Layer types that keep working at any channel count and only pass channels through.</summary>
    private static readonly HashSet<string> PassThrough =
    [
        "ReLU", "ReLU6", "LeakyReLU", "SiLU", "GELU", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh", "MaxPool2d", "AvgPool2d",
        "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Flatten", "Dropout", "Dropout2d", "Identity",
    ];

    /// <summary>One piece per Conv2d (groups = 1) and Linear producer of <paramref name="graph"/>.</summary>
    public static List<LatencyPiece> Plan(nn.Module<Tensor, Tensor> model, ModelGraph graph, IReadOnlyList<AllocatableGroup> groups,
        LatencyTableOptions options)
    {
        var modules = new Dictionary<string, TorchModule>();
        foreach (var (name, module) in model.named_modules()) modules.TryAdd(name, module);
        var groupOf = groups.SelectMany(g => g.Producers.Select(p => (p, g))).ToDictionary(x => x.p, x => x.g);
        var pieces = new List<LatencyPiece>();
        foreach (var name in graph.Producers)
        {
            var layer = graph.Layer(name);
            if (layer.Kind is not (LayerKind.Conv or LayerKind.Linear) || !modules.TryGetValue(name, out var module)) continue;
            if (module is not (Conv2d or Linear)) continue;

            var norm = graph.FollowersOf(name).Where(f => graph.EdgesTo(f).Count == 1)
                .Select(f => modules.GetValueOrDefault(f)).OfType<NormBase>().FirstOrDefault(n => n is BatchNorm1d or BatchNorm2d);
            var normLayer = norm is null ? null : graph.FollowersOf(name).Select(graph.Layer).First(l => ReferenceEquals(modules[l.Name], norm));
            var trailing = new List<(string, TorchModule)>();
            var shape = (normLayer ?? layer).OutputShape;
            foreach (var next in graph.Layers.Skip((normLayer ?? layer).Index + 1))
            {
                if (next.Kind != LayerKind.Parameterless || !PassThrough.Contains(next.Type) || !next.InputShape.SequenceEqual(shape)) break;
                trailing.Add((next.Name, modules[next.Name]));
                shape = next.OutputShape;
            }

            var (inGroup, inBlock) = InputGroup(graph, layer, groupOf);
            var outGroup = groupOf.GetValueOrDefault(name);
            int inWidth = (int)(inGroup is null ? FixedInput(layer) : inGroup.Channels);
            int[] inCounts = inGroup is null ? [inWidth] : Grid(inGroup, options);
            int[] outCounts = outGroup is null ? [(int)(layer.Channels ?? 0)] : Grid(outGroup, options);
            var signature = Describe(layer, module, norm, trailing, graph, inBlock, inCounts, outCounts);
            pieces.Add(new LatencyPiece(layer, module, norm, normLayer?.Name, trailing, inGroup, inBlock, inCounts, outGroup, outCounts, signature));
        }
        return pieces;
    }

    /// <summary>At most GridPoints of the group's options, evenly spread from the smallest to the full width.</summary>
    private static int[] Grid(AllocatableGroup group, LatencyTableOptions options)
    {
        var all = group.Options(options.Floor, options.RoundTo);
        if (all.Count <= options.GridPoints) return [.. all];
        return Enumerable.Range(0, options.GridPoints)
            .Select(i => all[(int)Math.Round((double)i * (all.Count - 1) / (options.GridPoints - 1))]).Distinct().ToArray();
    }

    /// <summary>The one allocatable group that fills the producer's whole input, with its block size; else (null, 1).</summary>
    private static (AllocatableGroup? Group, long Block) InputGroup(ModelGraph graph, LayerInfo layer, Dictionary<string, AllocatableGroup> groupOf)
    {
        var edges = graph.EdgesTo(layer.Name).Where(e => e.Role == EdgeRole.Consumer).ToList();
        var reaching = edges.Where(e => groupOf.ContainsKey(e.Producer)).ToList();
        if (reaching.Count == 0 || reaching.Select(e => groupOf[e.Producer].Id).Distinct().Count() != 1) return (null, 1);
        var mappings = reaching.Select(e => e.Mapping).Distinct().ToList();
        var group = groupOf[reaching[0].Producer];
        if (mappings.Count != 1 || mappings[0].Offset != 0 || reaching[0].TargetWidth != group.Channels * mappings[0].BlockSize) return (null, 1);
        return (group, mappings[0].BlockSize);
    }

    private static long FixedInput(LayerInfo layer) => layer.InChannels ?? layer.InFeatures ?? layer.InputShape[^1];

    private static string Describe(LayerInfo layer, TorchModule module, NormBase? norm, List<(string Name, TorchModule Module)> trailing,
        ModelGraph graph, long inBlock, int[] inCounts, int[] outCounts)
    {
        var text = new StringBuilder(layer.Type);
        if (module is Conv2d c)
            text.Append(CultureInfo.InvariantCulture,
                $" k{string.Join('x', c.kernel_size)} s{string.Join('x', c.stride)} p{string.Join('x', c.padding ?? [])}{c.padding_type} " +
                $"d{string.Join('x', c.dilation)} bias={c.bias is not null}");
        else text.Append(CultureInfo.InvariantCulture, $" bias={((Linear)module).bias is not null}");
        text.Append(CultureInfo.InvariantCulture, $" in {string.Join('x', layer.InputShape)} block {inBlock} norm={norm?.GetType().Name}");
        foreach (var (name, _) in trailing)
        {
            var t = graph.Layer(name);
            text.Append(CultureInfo.InvariantCulture, $" > {t.Type} {string.Join('x', t.InputShape)}->{string.Join('x', t.OutputShape)}");
        }
        text.Append(" grid ").AppendJoin(',', inCounts).Append(" x ").AppendJoin(',', outCounts);
        return text.ToString();
    }
}
