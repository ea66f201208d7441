using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Training;
using Trainer.Host.Jobs;
using Trainer.Host.Options;
using Trainer.Host.Plugins;

namespace Trainer.Host.Cli;

/// <summary>The command line: verb dispatch, help, and turning failures into one message and an exit code.</summary>
public static class TrainerCli
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>The job ran and failed (missing data, bad checkpoint, diverged training).</summary>
    public const int JobFailed = 1;
    /// <summary>Bad command line or configuration (a plugin that cannot be loaded included); nothing was run.</summary>
    public const int BadInput = 2;

    /// <summary>Runs the command line <paramref name="args"/>; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        // Tables keep their columns when output goes to a file or a pipe (Spectre would assume 80 columns).
        if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 200;
        if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
        {
            output.WriteLine(Verbs.Help);
            return args.Length == 0 ? BadInput : Ok;
        }
        var verb = args[0];
        if (!Verbs.All.ContainsKey(verb))
        {
            error.WriteLine($"error: unknown verb '{verb}'. Verbs: {string.Join(", ", Verbs.All.Keys)}. See trainer --help.");
            return BadInput;
        }
        if (args.Skip(1).Any(a => a is "--help" or "-h"))
        {
            output.WriteLine(Verbs.Help);
            return Ok;
        }
        var rest = args.Skip(1).ToList();
        // A trial takes its configuration from its spec, not from appsettings.json and the command line.
        if (verb == "trial") return TrialVerb.Run(rest, output, error);
        string? subCommand = null;
        if (verb == "analyze")
        {
            subCommand = rest.FirstOrDefault();
            if (subCommand is null || !AnalyzeJob.SubCommands.ContainsKey(subCommand))
            {
                error.WriteLine($"error: trainer analyze needs a sub-command: {string.Join(", ", AnalyzeJob.SubCommands.Keys)}" +
                                (subCommand is null ? "." : $" (got '{subCommand}')."));
                return BadInput;
            }
            rest.RemoveAt(0);
        }

        try
        {
            var json = TakeOption(rest, "--json");
            using var host = TrainerHost.Build(rest);
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            // The configured plugins load before any work, so a broken one stops the run here.
            host.Services.GetRequiredService<PluginLoader>();
            // So does the task (its settings checked, its data found) for the verbs that train or score.
            if (verb is "train" or "compress" or "quantize" or "run" or "predict" or "search") _ = host.Services.GetRequiredService<Tasks.TaskProvider>().Task;
            ApplyConvKernels(host);
            switch (verb)
            {
                case "train": host.Services.GetRequiredService<TrainJob>().Run(); break;
                case "compress": host.Services.GetRequiredService<CompressJob>().Run(); break;
                case "quantize": host.Services.GetRequiredService<QuantizeJob>().Run(); break;
                case "export": host.Services.GetRequiredService<ExportJob>().Run(); break;
                case "run": host.Services.GetRequiredService<PipelineJob>().Run(); break;
                case "predict": host.Services.GetRequiredService<PredictJob>().Run(); break;
                case "search": host.Services.GetRequiredService<SearchJob>().Run(); break;
                default: host.Services.GetRequiredService<AnalyzeJob>().Run(subCommand!, json); break;
            }
            return Ok;
        }
        catch (Exception e) when (Failures(e) is { Count: > 0 } failures)
        {
            foreach (var failure in failures) error.WriteLine($"error: {failure}");
            return BadInput;
        }
        catch (Exception e) when (e is JobException or PluginLoadException)
        {
            error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
        catch (Exception e) when (e is DatasetNotFoundException or CheckpointException or NonFiniteLossException or InvalidDataException
                                      or Core.Analysis.ModelAnalysisException or Core.Compression.ManifestMismatchException
                                      or Core.Search.Trials.TrialFailedException)
        {
            error.WriteLine($"error: {e.Message}");
            return JobFailed;
        }
    }

    /// <summary>Removes "--name value" from <paramref name="args"/> and returns the value (null when absent).</summary>
    private static string? TakeOption(List<string> args, string name)
    {
        var i = args.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--"))
            throw new JobException($"{name} needs a file name: {name} <file>.");
        var value = args[i + 1];
        args.RemoveRange(i, 2);
        return value;
    }

    /// <summary>Trainer:ConvKernels picks the convolution kernels; the outcome (oneDNN self-tested on this CPU, or not) is
    /// logged once, as information: where oneDNN was found wrong the run already uses libtorch's own kernels and its results
    /// are right, so there is nothing to warn about (whether oneDNN's fault shows depends on the CPU and even on the run); a
    /// warning only when oneDNN was found wrong and could not be turned off.</summary>
    internal static void ApplyConvKernels(IHost host)
    {
        var options = host.Services.GetRequiredService<IOptions<TrainerOptions>>().Value;
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Trainer.Runtime");
        var status = Core.Runtime.ConvKernels.Apply(Enum.Parse<Core.Runtime.ConvKernelPolicy>(options.ConvKernels, ignoreCase: true));
        if (Core.Runtime.ConvKernels.OneDnnFaults.Count > 0 && Core.Runtime.ConvKernels.UsesOneDnn) logger.LogWarning("{Status}", status);
        else logger.LogInformation("{Status}", status);
        logger.LogDebug("{Nnpack}", Core.Runtime.Nnpack.Status);
        if (Core.Runtime.LibTorchSetup.Problem.Length > 0) logger.LogWarning("{Problem}", Core.Runtime.LibTorchSetup.Problem);
    }

    /// <summary>Configuration failures in <paramref name="e"/> (validation or binding), or none.</summary>
    private static List<string> Failures(Exception e) => e switch
    {
        OptionsValidationException v => [.. v.Failures],
        AggregateException a => a.InnerExceptions.SelectMany(Failures).ToList(),
        // The binder's own errors: unknown keys and values of the wrong type.
        InvalidOperationException i when i.Message.StartsWith("Failed to convert", StringComparison.Ordinal) => [i.Message],
        InvalidOperationException i when i.Message.Contains("ErrorOnUnknownConfiguration", StringComparison.Ordinal) => [UnknownKeys(i.Message)],
        _ => [],
    };

    /// <summary>Rewrites the binder's unknown-property message into one naming the section and the accepted keys.</summary>
    private static string UnknownKeys(string binderMessage)
    {
        const string marker = "instance of ";
        var start = binderMessage.IndexOf(marker, StringComparison.Ordinal) + marker.Length;
        var end = binderMessage.IndexOf(':', start);
        var type = typeof(TrainerCli).Assembly.GetType(binderMessage[start..end]);
        var unknown = binderMessage[(end + 2)..];
        if (type is null) return binderMessage;
        var section = type.GetField("Section")?.GetValue(null) as string ?? type.Name switch
        {
            nameof(Options.EarlyStoppingSection) => "Trainer:EarlyStopping",
            nameof(Options.PruningSection) => "Trainer:Pruning",
            nameof(Options.SensitivitySection) => "Analyze:Sensitivity",
            _ => type.Name,
        };
        var known = string.Join(", ", type.GetProperties().Select(p => p.Name));
        return $"unknown configuration key(s) {unknown} in section {section}; accepted keys: {known}.";
    }
}
