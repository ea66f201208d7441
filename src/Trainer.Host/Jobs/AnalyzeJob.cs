using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;
using Trainer.Core.Models;
using Trainer.Core.Analysis;
using Trainer.Core.IO;
using Trainer.Host.Options;

namespace Trainer.Host.Jobs;

/// <summary>`trainer analyze &lt;sub-command&gt;`: model analysis tools, each printing a table and optionally writing JSON.</summary>
public sealed class AnalyzeJob(
    IOptions<ModelOptions> modelOptions,
    IOptions<AnalyzeOptions> analyzeOptions,
    SensitivityCommand sensitivity,
    GraphCommands graphs,
    Tasks.TaskProvider tasks,
    ILoggerFactory loggers)
{
    /// <summary>Sub-commands and what they do.</summary>
    public static readonly IReadOnlyDictionary<string, string> SubCommands = new Dictionary<string, string>
    {
        ["flops"] = "FLOPs and parameters per layer (NNI's default or full counting: Analyze:CountMode; masked with Analyze:Masks)",
        ["deps"] = "channel dependency sets (layers pruned together) and group constraints, NNI's CSV format",
        ["graph"] = "the layer graph: channel mappings, coupled groups, DOT and PNG (Graphviz)",
        ["masks"] = "make filter masks agree across coupled layers (Analyze:Masks, Analyze:MaskConflictMode)",
        ["sensitivity"] = "accuracy vs sparsity, one layer pruned at a time (CSV + PNG; sharding and merging)",
    };

    private readonly ILogger _logger = loggers.CreateLogger("Trainer.Analyze");

    /// <summary>Runs <paramref name="subCommand"/>; writes the figures as JSON to <paramref name="jsonPath"/> when given.</summary>
    public void Run(string subCommand, string? jsonPath)
    {
        var options = analyzeOptions.Value;
        if (subCommand == "sensitivity" && options.Sensitivity.MergeFiles.Length > 0)
        {
            WriteJson(jsonPath, sensitivity.Merge(options));
            return;
        }
        // The task is configured only when the model is the task's own or takes the task's input shape.
        var model = ModelLoader.Load(modelOptions.Value, _logger, () => tasks.Task);
        var json = subCommand switch
        {
            "flops" => Flops(model, options),
            "sensitivity" => sensitivity.Run(model, options),
            "deps" => graphs.Dependencies(model, options),
            "graph" => graphs.Graph(model, options),
            "masks" => graphs.Masks(model, options),
            _ => throw new JobException($"Unknown analyze sub-command '{subCommand}'. Accepted: {string.Join(", ", SubCommands.Keys)}."),
        };
        WriteJson(jsonPath, json);
    }

    private string Flops(LoadedModel model, AnalyzeOptions options)
    {
        var mode = options.CountMode.Equals("full", StringComparison.OrdinalIgnoreCase) ? CountMode.Full : CountMode.Default;
        // With Analyze:Masks, count the masked model (kept output filters only), as NNI documents.
        using var scope = TorchSharp.torch.NewDisposeScope();
        var masks = options.Masks.Length == 0 ? null : Trainer.Core.Graph.MaskFile.Load(options.Masks, model.Network)
            .ToDictionary(kv => kv.Key, kv => TorchSharp.torch.tensor(kv.Value));
        FlopsReport report;
        try
        {
            report = FlopsCounter.Count(model.Network, model.InputShape, mode, masks);
        }
        catch (ArgumentException e)
        {
            throw JobException.From(e, $"Analyze:Masks '{options.Masks}'");
        }
        AnsiConsole.Write(report.ToTable().Title($"{Markup.Escape(model.Name)} {FlopsReport.FormatShape(model.InputShape)}, {mode} mode"));
        var csv = Path.Combine(options.OutputDir, $"{model.Name}-flops.csv");
        AtomicFile.WriteAllText(csv, report.ToCsv());
        _logger.LogInformation("{Model}: {Flops} FLOPs, {Params} parameters; per-layer CSV in '{Csv}'.",
            model.Name, FlopsReport.Format(report.TotalFlops), FlopsReport.Format(report.TotalParams), csv);
        return report.ToJson();
    }

    private void WriteJson(string? path, string json)
    {
        if (path is null) return;
        AtomicFile.WriteAllText(path, json);
        _logger.LogInformation("JSON written to '{Path}'.", path);
    }
}
