namespace Trainer.Host.Options;

/// <summary>The "Task" configuration section: which task every verb trains, scores and compresses for.</summary>
public sealed class TaskOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Task";

    /// <summary>A built-in task (Core's TaskCatalog: "fashion-mnist", "cifar10-binary", "image-folder", "tabular"); ignored when <see cref="Type"/> is set.</summary>
    public string Name { get; set; } = "fashion-mnist";

    /// <summary>Path of the assembly holding a task of your own (a class deriving from Trainer.Core.Tasks.TrainingTask).</summary>
    public string Assembly { get; set; } = "";

    /// <summary>Full name of your task class in <see cref="Assembly"/>.</summary>
    public string Type { get; set; } = "";

    /// <summary>The task's own keys, handed to it as they are; the task validates them at start-up.</summary>
    public Dictionary<string, string> Settings { get; set; } = new(StringComparer.OrdinalIgnoreCase);
}
