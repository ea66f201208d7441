using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Training;
using Trainer.Host.Jobs;

namespace Trainer.Host.Cli;

/// <summary>The command line: verb dispatch, help, and turning failures into one message and an exit code.</summary>
public static class TrainerCli
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>The job ran and failed (missing data, bad checkpoint, diverged training).</summary>
    public const int JobFailed = 1;
    /// <summary>Bad command line or configuration; nothing was run.</summary>
    public const int BadInput = 2;

    /// <summary>Runs the command line <paramref name="args"/>; returns the process exit code.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
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

        try
        {
            using var host = TrainerHost.Build(args.Skip(1).ToArray());
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            host.Services.GetRequiredService<TrainJob>().Run();
            return Ok;
        }
        catch (Exception e) when (Failures(e) is { Count: > 0 } failures)
        {
            foreach (var failure in failures) error.WriteLine($"error: {failure}");
            return BadInput;
        }
        catch (JobException e)
        {
            error.WriteLine($"error: {e.Message}");
            return BadInput;
        }
        catch (Exception e) when (e is DatasetNotFoundException or CheckpointException or NonFiniteLossException or InvalidDataException)
        {
            error.WriteLine($"error: {e.Message}");
            return JobFailed;
        }
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
        var section = binderMessage.Contains(nameof(Options.DataOptions)) ? typeof(Options.DataOptions) : typeof(Options.TrainerOptions);
        var name = section == typeof(Options.DataOptions) ? Options.DataOptions.Section : Options.TrainerOptions.Section;
        var unknown = binderMessage[(binderMessage.LastIndexOf(": ", StringComparison.Ordinal) + 2)..];
        var known = string.Join(", ", section.GetProperties().Select(p => p.Name));
        return $"unknown configuration key(s) {unknown} in section {name}; accepted keys: {known}.";
    }
}
