using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Search.Trials;
using Trainer.Host.Jobs;

namespace Trainer.Host.Cli;

/// <summary>
/// `trainer trial &lt;spec.json&gt; --result &lt;result.json&gt; [--attempt N]` runs one trial spec; `trainer trial --worker` serves
/// trials read from standard input (<see cref="TrialWorkerProtocol"/>) until it ends, keeping the loaded model between trials
/// of the same configuration. The model, task and data come from the spec, not from appsettings.json; this process's own
/// Trainer:Threads (command line or Trainer__Threads) sets its thread count.
/// </summary>
public static class TrialVerb
{
    /// <summary>Usage of the verb.</summary>
    public const string Usage = "trainer trial <spec.json> --result <result.json> [--attempt N], or trainer trial --worker";

    /// <summary>Runs the verb with <paramref name="args"/> (after "trial"); returns the exit code.</summary>
    public static int Run(List<string> args, TextWriter output, TextWriter error)
    {
        bool worker = args.Remove("--worker");
        string? resultPath, attemptText;
        try
        {
            resultPath = Take(args, "--result");
            attemptText = Take(args, "--attempt");
        }
        catch (JobException e)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainerCli.BadInput;
        }
        var overrides = args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).ToList();
        var positional = args.Except(overrides).ToList();
        int attempt = 1;
        if ((worker && (positional.Count > 0 || resultPath is not null)) || (!worker && (positional.Count != 1 || resultPath is null)) ||
            (attemptText is not null && (!int.TryParse(attemptText, CultureInfo.InvariantCulture, out attempt) || attempt < 1)))
        {
            error.WriteLine($"error: usage: {Usage}.");
            return TrainerCli.BadInput;
        }
        var own = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(overrides.ToArray()).Build();
        int threads = int.TryParse(own["Trainer:Threads"], CultureInfo.InvariantCulture, out int n) ? n : 0;

        // A worker answers on standard output; everything else it prints goes to standard error.
        if (worker) Console.SetOut(error);
        using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
            o.ColorBehavior = LoggerColorBehavior.Disabled;
        }));
        using var executor = new TrialExecutor(loggers.CreateLogger("Trainer.Trial"), threads);
        if (worker)
        {
            ParentWatch.Start();
            TrialWorkerProtocol.Serve(Console.In, output, (files, a) => executor.Run(files, a));
            return TrainerCli.Ok;
        }
        try
        {
            var result = executor.Run(new TrialFiles(positional[0], resultPath!), attempt);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"trial {result.SpecHash}: score {result.Score:R}, {result.Parameters} parameters, {result.Seconds:0.00} s → {resultPath}"));
            return TrainerCli.Ok;
        }
        catch (Exception e) when (e is InvalidTrialSpecException or JobException)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainerCli.BadInput;
        }
        catch (Exception e) when (e is DatasetNotFoundException or CheckpointException or InvalidDataException)
        {
            error.WriteLine($"error: {e.Message}");
            return TrainerCli.JobFailed;
        }
    }

    private static string? Take(List<string> args, string name)
    {
        var i = args.IndexOf(name);
        if (i < 0) return null;
        if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
            throw new JobException($"{name} needs a value: {Usage}.");
        var value = args[i + 1];
        args.RemoveRange(i, 2);
        return value;
    }
}
