namespace Trainer.Core.Tasks;

/// <summary>The built-in tasks, by the name configuration picks them with (Task:Name).</summary>
public static class TaskCatalog
{
    private static readonly Dictionary<string, Func<TrainingTask>> Entries = new(StringComparer.OrdinalIgnoreCase)
    {
        [FashionMnistTask.TaskName] = () => new FashionMnistTask(),
        [Cifar10BinaryTask.TaskName] = () => new Cifar10BinaryTask(),
        [TabularTask.TaskName] = () => new TabularTask(),
        [ImageFolderTask.TaskName] = () => new ImageFolderTask(),
    };

    /// <summary>Names of the built-in tasks.</summary>
    public static IReadOnlyList<string> Names => [.. Entries.Keys.Order()];

    /// <summary>A new, unconfigured instance of the built-in task <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No built-in task has that name (the message lists them).</exception>
    public static TrainingTask Create(string name) => Entries.TryGetValue(name, out var create)
        ? create()
        : throw new ArgumentException($"'{name}' is not a built-in task; built-in: {string.Join(", ", Names)}. " +
                                      "A task of your own is loaded with Task:Assembly and Task:Type.");
}
