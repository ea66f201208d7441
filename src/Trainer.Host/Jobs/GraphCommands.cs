using System.Text.Json;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using Trainer.Core.Models;
using Trainer.Core.Analysis;
using Trainer.Core.Graph;
using Trainer.Core.IO;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>`trainer analyze deps | graph | masks`: what the dependency graph says about a model.</summary>
public sealed class GraphCommands(ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Graph");
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Channel and group dependencies: table, NNI-format CSVs; returns JSON.</summary>
    public string Dependencies(LoadedModel model, AnalyzeOptions options)
    {
        var graph = Build(model);
        var channel = graph.ChannelDependency;
        var table = new Table().Title($"{Markup.Escape(model.Name)}: {channel.Sets.Count} channel dependency sets")
            .AddColumn("set").AddColumn("layers (output channels pruned together)").AddColumn(new TableColumn("divisor").RightAligned());
        for (var i = 0; i < channel.Sets.Count; i++)
            table.AddRow($"{i + 1}", Markup.Escape(string.Join(", ", channel.Sets[i])),
                channel.Sets[i].Max(graph.GroupDependency.DivisorOf).ToString());
        AnsiConsole.Write(table);
        WriteProblems(graph);

        var channelCsv = Path.Combine(options.OutputDir, $"{model.Name}-channel-dependency.csv");
        var groupCsv = Path.Combine(options.OutputDir, $"{model.Name}-group-dependency.csv");
        AtomicFile.WriteAllText(channelCsv, channel.ToCsv());
        AtomicFile.WriteAllText(groupCsv, graph.GroupDependency.ToCsv());
        _logger.LogInformation("Dependency CSVs in '{Channel}' and '{Group}'.", channelCsv, groupCsv);
        return JsonSerializer.Serialize(new
        {
            model = model.Name,
            channel_sets = channel.Sets,
            group_divisors = graph.GroupDependency.Divisors,
            problems = graph.Problems.Select(p => p.ToString()),
        }, Indented);
    }

    /// <summary>The layer graph: table, DOT (rendered to PNG when Graphviz is installed); returns JSON.</summary>
    public string Graph(LoadedModel model, AnalyzeOptions options)
    {
        var graph = Build(model);
        var flops = FlopsCounter.Count(model.Network, model.InputShape).Layers
            .GroupBy(l => l.Name).ToDictionary(g => g.Key, g => g.Sum(l => l.Flops));
        var table = new Table().Title($"{Markup.Escape(model.Name)}: {graph.Layers.Count} layers, {graph.Groups.Count(g => g.IsCoupled)} coupled groups, built in {graph.BuildTime.TotalMilliseconds:0} ms")
            .AddColumn("layer").AddColumn("type").AddColumn("output").AddColumn(new TableColumn("channels").RightAligned())
            .AddColumn(new TableColumn("FLOPs").RightAligned()).AddColumn("feeds (mapping)");
        foreach (var layer in graph.Layers)
            table.AddRow(Markup.Escape(layer.Name), layer.Type, FlopsReport.FormatShape(layer.OutputShape), layer.Channels?.ToString() ?? "",
                flops.TryGetValue(layer.Name, out var f) ? FlopsReport.Format(f) : "",
                Markup.Escape(string.Join(", ", graph.ConsumersOf(layer.Name).Select(e => $"{e.Target} ({e.Mapping})"))));
        AnsiConsole.Write(table);
        WriteProblems(graph);

        var dot = Path.Combine(options.OutputDir, $"{model.Name}-graph.dot");
        var text = graph.ToDot(flops);
        AtomicFile.WriteAllText(dot, text);
        var png = Path.ChangeExtension(dot, ".png");
        if (GraphRenderer.TryRender(text, png, out var failure)) _logger.LogInformation("Graph in '{Dot}', drawn in '{Png}'.", dot, png);
        else _logger.LogWarning("Graph in '{Dot}'; not drawn: {Reason}", dot, failure);
        return JsonSerializer.Serialize(new
        {
            model = model.Name,
            input_shape = graph.InputShape,
            build_ms = Math.Round(graph.BuildTime.TotalMilliseconds, 1),
            layers = graph.Layers.Select(l => new { l.Name, l.Type, output_shape = l.OutputShape, l.Channels }),
            edges = graph.Edges.Select(e => new { producer = e.Producer, target = e.Target, mapping = e.Mapping.ToString() }),
            coupled_groups = graph.Groups.Where(g => g.IsCoupled).Select(g => g.Producers),
            problems = graph.Problems.Select(p => p.ToString()),
        }, Indented);
    }

    /// <summary>Makes the masks of Analyze:Masks agree across coupled layers; saves the fixed masks; returns JSON.</summary>
    public string Masks(LoadedModel model, AnalyzeOptions options)
    {
        if (options.Masks.Length == 0)
            throw new JobException("analyze masks needs a masks file: --Analyze:Masks=<file.json> (as written by MaskFile.Save).");
        if (!File.Exists(options.Masks) && !Directory.Exists(options.Masks))
            throw new JobException($"Analyze:Masks file '{options.Masks}' does not exist.");
        // Read and checked against the model first: a damaged or foreign file is one error naming it (exit 1).
        var masks = MaskFile.Load(options.Masks, model.Network);
        var graph = Build(model);
        var mode = Enum.Parse<ConflictMode>(options.MaskConflictMode, ignoreCase: true);
        MaskFixResult fixedMasks;
        try
        {
            fixedMasks = MaskConflict.Fix(graph, masks, mode);
        }
        catch (ArgumentException e)
        {
            throw JobException.From(e, $"Analyze:Masks '{options.Masks}'");
        }
        var output = Path.Combine(options.OutputDir, $"{model.Name}-masks-fixed.json");
        MaskFile.Save(output, fixedMasks.Masks);
        _logger.LogInformation("{Count} layer(s) changed ({Mode}); fixed masks in '{Path}'.{Changes}",
            fixedMasks.Changes.Count, mode, output, fixedMasks.Changes.Count > 0 ? Environment.NewLine + fixedMasks.Describe() : "");
        return JsonSerializer.Serialize(new
        {
            mode = mode.ToString().ToLowerInvariant(),
            changes = fixedMasks.Changes.Select(c => new { layer = c.Layer, kept_before = c.KeptBefore, kept_after = c.KeptAfter }),
            kept = fixedMasks.Masks.ToDictionary(kv => kv.Key, kv => kv.Value.Count(k => k)),
        }, Indented);
    }

    private ModelGraph Build(LoadedModel model) => ModelGraph.Build(model.Network, model.InputShape, _logger);

    private void WriteProblems(ModelGraph graph)
    {
        foreach (var problem in graph.Problems) _logger.LogWarning("Not analysable: {Problem}", problem);
    }
}
