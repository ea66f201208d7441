using Trainer.Core.Graph;

namespace Trainer.Core.Tests.Graph;

/// <summary>NNI's CSV export format, the DOT text and its rendering.</summary>
public sealed class CsvAndDotTests
{
    [Fact]
    public void Channel_dependency_csv_is_NNIs_export_format()
    {
        using var model = new MobileBlockNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);

        Assert.Equal(
            "Dependency Set,Layers\r\nSet 1,stem,project\r\nSet 2,expand\r\nSet 3,depthwise\r\nSet 4,head\r\n",
            graph.ChannelDependency.ToCsv());
    }

    [Fact]
    public void Dot_has_nodes_edges_mappings_and_group_colours()
    {
        using var model = new MobileBlockNet();
        var graph = ModelGraph.Build(model, [1, 3, 8, 8]);
        var dot = graph.ToDot(new Dictionary<string, long> { ["expand"] = 12_288 });

        Assert.StartsWith("digraph model {", dot);
        Assert.Contains("\"expand\" [label=\"expand\\nConv2d [1,24,8,8]\\n8→24 ch\\nFLOPs 12.29K\"", dot);
        Assert.Contains("\"depthwise\" [label=\"depthwise\\nConv2d [1,24,8,8]\\n24→24 ch, groups 24\"", dot);
        Assert.Contains("\"expand\" -> \"project\" [label=\"identity\"];", dot);
        Assert.Contains("\"expand\" -> \"depthwise\" [label=\"identity\", style=dashed];", dot);
        Assert.Contains("\"stem\" -> \"head\" [label=\"identity\"];", dot);
        // stem and project are coupled: same fill colour.
        var stemFill = FillOf(dot, "stem");
        Assert.NotNull(stemFill);
        Assert.Equal(stemFill, FillOf(dot, "project"));
        Assert.Equal(stemFill, FillOf(dot, "bn3"));
        Assert.Null(FillOf(dot, "expand"));
    }

    [Fact]
    public void Dot_labels_block_and_offset_mappings()
    {
        using var concat = new TwoBranchConcatNet();
        Assert.Contains("\"branchB\" -> \"merge\" [label=\"offset(8)\"];", ModelGraph.Build(concat, [1, 3, 4, 4]).ToDot());
        using var flat = new ConvFlattenLinearNet();
        Assert.Contains("\"conv\" -> \"fc\" [label=\"block(16)\"];", ModelGraph.Build(flat, [1, 1, 8, 8]).ToDot());
    }

    [Fact]
    public void Renders_png_and_svg_when_graphviz_is_installed()
    {
        using var model = new MobileBlockNet();
        var dot = ModelGraph.Build(model, [1, 3, 8, 8]).ToDot();
        var dir = Directory.CreateTempSubdirectory("graph-render-");
        try
        {
            var png = Path.Combine(dir.FullName, "g.png");
            if (GraphRenderer.FindDot() is null)
            {
                Assert.False(GraphRenderer.TryRender(dot, png, out var why));
                Assert.Contains("not on PATH", why);
                return;
            }
            Assert.True(GraphRenderer.TryRender(dot, png, out var failure), failure);
            var bytes = File.ReadAllBytes(png);
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], bytes[..4]);
            var svg = Path.Combine(dir.FullName, "g.svg");
            Assert.True(GraphRenderer.TryRender(dot, svg, out failure), failure);
            Assert.Contains("<svg", File.ReadAllText(svg));
            Assert.Equal(["g.png", "g.svg"], dir.GetFiles().Select(f => f.Name).Order());

            Assert.False(GraphRenderer.TryRender(dot, Path.Combine(dir.FullName, "g.pdf"), out failure));
            Assert.Contains(".png or .svg", failure);
            Assert.False(GraphRenderer.TryRender("digraph {", Path.Combine(dir.FullName, "bad.png"), out failure));
            Assert.Contains("dot exited", failure);
            Assert.Equal(2, dir.GetFiles().Length);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string? FillOf(string dot, string node)
    {
        var line = dot.Split('\n').First(l => l.TrimStart().StartsWith($"\"{node}\" [", StringComparison.Ordinal));
        var at = line.IndexOf("fillcolor=\"", StringComparison.Ordinal);
        return at < 0 ? null : line.Substring(at + 11, 7);
    }
}
