using System.Globalization;
using System.Text;

namespace Trainer.Core.Graph;

/// <summary>
/// Writes a <see cref="ModelGraph"/> as Graphviz DOT: one box per layer that produces, receives or
/// carries channels, labelled with name, type, output shape, channels and FLOPs (when given); one
/// arrow per channel edge labelled with its mapping (dashed to followers, red to unsupported layers);
/// the producers of a coupled group and their followers filled with the group's colour; layers with
/// problems outlined in red.
/// </summary>
internal static class DotExporter
{
    private static readonly string[] Palette =
    [
        "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
        "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#b2df8a", "#fdbf6f", "#cab2d6", "#e5c494",
    ];

    /// <summary>The DOT text of <paramref name="graph"/>.</summary>
    public static string Export(ModelGraph graph, IReadOnlyDictionary<string, long>? flops)
    {
        var colour = new Dictionary<string, string>();
        int next = 0;
        foreach (var group in graph.Groups.Where(g => g.IsCoupled))
        {
            var c = Palette[next++ % Palette.Length];
            foreach (var name in group.Producers.Concat(group.Followers)) colour.TryAdd(name, c);
        }
        var troubled = graph.Problems.Select(p => p.Layer).ToHashSet();
        var shown = graph.Producers.Concat(graph.Edges.Select(e => e.Target)).ToHashSet();

        var dot = new StringBuilder();
        dot.Append("digraph model {\n");
        dot.Append("  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\", fontsize=10];\n");
        dot.Append("  edge [fontname=\"Helvetica\", fontsize=9];\n");
        foreach (var layer in graph.Layers.Where(l => shown.Contains(l.Name)))
        {
            var label = new StringBuilder();
            label.Append(layer.Name).Append("\\n").Append(layer.Type).Append(' ').Append(Shapes.Format(layer.OutputShape));
            label.Append("\\n").Append(Channels(layer));
            if (flops is not null && flops.TryGetValue(layer.Name, out var f)) label.Append("\\nFLOPs ").Append(Human(f));
            var attrs = $"label=\"{Escape(label.ToString())}\"";
            if (colour.TryGetValue(layer.Name, out var fill)) attrs += $", fillcolor=\"{fill}\"";
            if (troubled.Contains(layer.Name)) attrs += ", color=\"red\", penwidth=2";
            dot.Append("  ").Append(Id(layer.Name)).Append(" [").Append(attrs).Append("];\n");
        }
        foreach (var e in graph.Edges)
        {
            var attrs = $"label=\"{Escape(e.Mapping.ToString())}\"";
            if (e.Role == EdgeRole.Follower) attrs += ", style=dashed";
            if (e.Role == EdgeRole.Unsupported) attrs += ", color=red";
            dot.Append("  ").Append(Id(e.Producer)).Append(" -> ").Append(Id(e.Target)).Append(" [").Append(attrs).Append("];\n");
        }
        dot.Append("}\n");
        return dot.ToString();
    }

    private static string Channels(LayerInfo l) => l.Kind switch
    {
        LayerKind.Conv or LayerKind.DepthwiseConv or LayerKind.GroupedConv or LayerKind.TransposedConv or LayerKind.OtherConv =>
            $"{l.InChannels}→{l.OutChannels} ch" + (l.Groups > 1 ? $", groups {l.Groups}" : ""),
        LayerKind.Linear => $"{l.InFeatures}→{l.OutFeatures} features",
        LayerKind.Norm or LayerKind.LayerNorm => $"{l.NumFeatures} ch",
        LayerKind.GroupNorm => $"{l.NumFeatures} ch, groups {l.NumGroups}",
        _ => l.Kind.ToString().ToLowerInvariant(),
    };

    private static string Human(long v) => v switch
    {
        >= 1_000_000_000 => (v / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G",
        >= 1_000_000 => (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1_000 => (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "K",
        _ => v.ToString(CultureInfo.InvariantCulture),
    };

    private static string Id(string name) => "\"" + Escape(name) + "\"";

    // Backslashes are kept: "\n" in labels is DOT's line break.
    private static string Escape(string s) => s.Replace("\"", "\\\"");
}
