using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Trainer.Core.Search.Trials;
using Trainer.Core.Tasks;
using Trainer.Host.Cli;
using Trainer.Host.Options;
using TorchSharp;

namespace Trainer.Host.Jobs;

/// <summary>
/// Opens the host a trial spec's configuration describes, the start every trial executor shares before it loads its model
/// (<see cref="TrialExecutor"/>, <see cref="SensitivityTrialExecutor"/>).
/// </summary>
internal static class TrialHost
{
    /// <summary>Builds the host of <paramref name="spec"/>'s configuration, validates it, applies its torch threads and
    /// convolution kernels, creates its task and hands host, trainer options and task to <paramref name="load"/>. What
    /// <paramref name="load"/> returns owns the host; the host is disposed when <paramref name="load"/> throws.</summary>
    /// <param name="spec">The spec whose configuration and working folder are opened.</param>
    /// <param name="path">The spec's file, for messages.</param>
    /// <param name="threads">The worker's torch threads, in place of the configuration's when positive.</param>
    /// <param name="load">Loads what the executor keeps (the model and what scores it) from the open host.</param>
    /// <exception cref="InvalidTrialSpecException">The configuration does not load here: invalid options, or a
    /// <see cref="JobException"/> while opening or in <paramref name="load"/>.</exception>
    public static T Open<T>(TrialSpec spec, string path, int threads, Func<IHost, TrainerOptions, TrainingTask, T> load)
    {
        // Relative paths in the configuration (data, checkpoints) are relative to the folder the search ran in.
        if (spec.WorkingDirectory is { Length: > 0 } folder && Directory.Exists(folder)) Directory.SetCurrentDirectory(folder);
        var config = spec.Config.ToDictionary();
        if (threads > 0) config["Trainer:Threads"] = threads.ToString(CultureInfo.InvariantCulture);
        var host = TrainerHost.Build([], config);
        try
        {
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            var trainer = host.Services.GetRequiredService<IOptions<TrainerOptions>>().Value;
            if (trainer.Threads > 0) torch.set_num_threads(trainer.Threads);
            TrainerCli.ApplyConvKernels(host);
            var task = host.Services.GetRequiredService<Tasks.TaskProvider>().Task;
            return load(host, trainer, task);
        }
        catch (Exception e) when (e is OptionsValidationException or JobException)
        {
            host.Dispose();
            var why = e is OptionsValidationException v ? string.Join(" ", v.Failures) : e.Message;
            throw new InvalidTrialSpecException($"The trial spec '{path}' does not load here: {why}");
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }
}
