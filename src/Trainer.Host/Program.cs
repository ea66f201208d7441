using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Trainer.Core.Checkpoints;
using Trainer.Core.Data;
using Trainer.Core.Training;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;

// Exit codes: 0 success, 1 the job failed, 2 bad command line or configuration.
if (args.Length == 0 || args[0] is "--help" or "-h" or "help")
{
    Console.WriteLine(Verbs.Help);
    return args.Length == 0 ? 2 : 0;
}
var verb = args[0];
if (!Verbs.All.ContainsKey(verb))
{
    Console.Error.WriteLine($"error: unknown verb '{verb}'. Verbs: {string.Join(", ", Verbs.All.Keys)}. See trainer --help.");
    return 2;
}
if (args.Skip(1).Any(a => a is "--help" or "-h"))
{
    Console.WriteLine(Verbs.Help);
    return 0;
}

try
{
    using var host = HostBuilder.Build(args.Skip(1).ToArray());
    host.Services.GetRequiredService<IStartupValidator>().Validate();
    host.Services.GetRequiredService<TrainJob>().Run();
    return 0;
}
catch (OptionsValidationException e)
{
    foreach (var failure in e.Failures) Console.Error.WriteLine($"error: {failure}");
    return 2;
}
catch (AggregateException e) when (e.InnerExceptions.All(x => x is OptionsValidationException))
{
    foreach (var failure in e.InnerExceptions.Cast<OptionsValidationException>().SelectMany(x => x.Failures))
        Console.Error.WriteLine($"error: {failure}");
    return 2;
}
catch (InvalidOperationException e) when (e.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase) ||
                                          e.Message.StartsWith("Failed to convert", StringComparison.Ordinal))
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (JobException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Exception e) when (e is DatasetNotFoundException or CheckpointException or NonFiniteLossException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
