using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Trainer.Core.Tasks;
using Trainer.Host.Jobs;
using Trainer.Host.Options;
using Trainer.Host.Plugins;
using McMasterLoader = McMaster.NETCore.Plugins.PluginLoader;

namespace Trainer.Host.Tasks;

/// <summary>
/// The configured task, created and configured once on first use: a built-in one by Task:Name, or a user's task class
/// (Task:Assembly + Task:Type) loaded beside the host's TorchSharp, Abstractions and Core, like a plugin.
/// </summary>
public sealed class TaskProvider(IOptions<TaskOptions> taskOptions, IOptions<DataOptions> dataOptions, ILoggerFactory loggers) : IDisposable
{
    /// <summary>Assemblies the host provides: a task folder must not bring its own copies.</summary>
    public static readonly string[] SharedFiles = PluginLoader.SharedFiles;

    private TrainingTask? _task;
    private McMasterLoader? _loader;

    /// <summary>The task, configured (its data found, its settings checked).</summary>
    /// <exception cref="JobException">The task cannot be created or rejects its settings (the message names the key).</exception>
    public TrainingTask Task => _task ??= CreateConfigured();

    private TrainingTask CreateConfigured()
    {
        var o = taskOptions.Value;
        var logger = loggers.CreateLogger("Trainer.Task");
        var task = o.Type.Length > 0 || o.Assembly.Length > 0 ? LoadUserTask(o) : Builtin(o.Name);
        try
        {
            task.Configure(new TaskContext(dataOptions.Value.Path, o.Settings, logger));
        }
        catch (ArgumentException e)
        {
            task.Dispose();
            throw new JobException($"The task '{task.Name}' rejects its configuration: {e.Message}");
        }
        logger.LogInformation("Task '{Task}' ({Type}): score {Score}, {Direction}.", task.Name, task.GetType().FullName, task.Score.Name,
            task.Score.HigherIsBetter ? "higher is better" : "lower is better");
        return task;
    }

    private static TrainingTask Builtin(string name)
    {
        try
        {
            return TaskCatalog.Create(name);
        }
        catch (ArgumentException e)
        {
            throw new JobException($"Task:Name = {e.Message}");
        }
    }

    private TrainingTask LoadUserTask(TaskOptions o)
    {
        if (o.Assembly.Length == 0 || o.Type.Length == 0)
            throw new JobException("A task of your own needs both Task:Assembly (the .dll) and Task:Type (the class's full name); " +
                                   $"got Task:Assembly = '{o.Assembly}', Task:Type = '{o.Type}'.");
        var path = Path.GetFullPath(o.Assembly);
        if (!File.Exists(path))
            throw new JobException($"Task:Assembly = '{o.Assembly}': no file at {path}; build your task project and point Task:Assembly at its .dll.");
        JobException Refused(string message) => new($"Task:Assembly = '{o.Assembly}': {message}");
        var (loader, assembly) = IsolatedAssembly.Load(path, "task", SharedFiles, [.. PluginLoader.SharedTypes, typeof(TrainingTask)],
            "In the task's project, reference Trainer.Core and Trainer.Abstractions with <Private>false</Private> and TorchSharp with " +
            "ExcludeAssets=\"runtime\"", Refused);
        _loader = loader;
        Type? type;
        try
        {
            type = assembly.GetType(o.Type, throwOnError: false);
        }
        catch (Exception e) when (e is FileLoadException or IOException or TypeLoadException or ReflectionTypeLoadException or BadImageFormatException)
        {
            throw Refused($"its types cannot be loaded: {e.Message}");
        }
        if (type is null)
            throw new JobException($"Task:Type = '{o.Type}' is not a type of {Path.GetFileName(path)}; give the class's full name (namespace included).");
        if (!typeof(TrainingTask).IsAssignableFrom(type))
            throw new JobException($"Task:Type = '{o.Type}' is not a task: it does not derive from {typeof(TrainingTask).FullName}. " +
                                   "A task subclasses it and implements Name, Score, ExampleInputShape, Configure, TrainLoader, ValidationLoader, " +
                                   "CreateTrainer and Evaluate.");
        if (type.IsAbstract || type.GetConstructor(Type.EmptyTypes) is null)
            throw new JobException($"Task:Type = '{o.Type}' cannot be created: a task needs to be a non-abstract class with a public parameterless constructor.");
        try
        {
            return (TrainingTask)Activator.CreateInstance(type)!;
        }
        catch (TargetInvocationException e)
        {
            throw new JobException($"Task:Type = '{o.Type}': its constructor failed: {e.InnerException?.Message ?? e.Message}");
        }
    }

    /// <summary>Releases the task's data.</summary>
    public void Dispose()
    {
        _task?.Dispose();
        _task = null;
    }
}
