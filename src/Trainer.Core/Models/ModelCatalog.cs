using System.Reflection;
using System.Runtime.Loader;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Models;

/// <summary>A model the catalog can build, with the input shape it expects by default.</summary>
/// <param name="Name">Catalog name ("resnet18", "fashion-cnn").</param>
/// <param name="DefaultInputShape">Input shape used when none is configured.</param>
/// <param name="Create">Builds a fresh instance with random weights.</param>
public sealed record ModelEntry(string Name, long[] DefaultInputShape, Func<nn.Module<Tensor, Tensor>> Create);

/// <summary>
/// Builds models by name: the project's example models, every TorchVision 0.107 classification model,
/// or a user's model class from an assembly (public parameterless constructor, derived from
/// <c>Module&lt;Tensor,Tensor&gt;</c>). Unknown names are errors that list what is known.
/// </summary>
public static class ModelCatalog
{
    private static readonly long[] ImageNet = [1, 3, 224, 224];

    private static readonly Dictionary<string, ModelEntry> Entries = new ModelEntry[]
    {
        new("fashion-cnn", [1, 1, 28, 28], () => new FashionCnn()),
        new("resnet18", ImageNet, () => torchvision.models.resnet18()),
        new("resnet34", ImageNet, () => torchvision.models.resnet34()),
        new("resnet50", ImageNet, () => torchvision.models.resnet50()),
        new("resnet101", ImageNet, () => torchvision.models.resnet101()),
        new("resnet152", ImageNet, () => torchvision.models.resnet152()),
        new("resnext50_32x4d", ImageNet, () => torchvision.models.resnext50_32x4d()),
        new("resnext101_32x8d", ImageNet, () => torchvision.models.resnext101_32x8d()),
        new("wide_resnet50_2", ImageNet, () => torchvision.models.wide_resnet50_2()),
        new("vgg11", ImageNet, () => torchvision.models.vgg11()),
        new("vgg11_bn", ImageNet, () => torchvision.models.vgg11_bn()),
        new("vgg13", ImageNet, () => torchvision.models.vgg13()),
        new("vgg16", ImageNet, () => torchvision.models.vgg16()),
        new("vgg16_bn", ImageNet, () => torchvision.models.vgg16_bn()),
        new("vgg19", ImageNet, () => torchvision.models.vgg19()),
        new("mobilenet_v2", ImageNet, () => torchvision.models.mobilenet_v2()),
        new("mobilenet_v3_large", ImageNet, () => torchvision.models.mobilenet_v3_large()),
        new("mobilenet_v3_small", ImageNet, () => torchvision.models.mobilenet_v3_small()),
        new("alexnet", ImageNet, () => torchvision.models.alexnet()),
        new("googlenet", ImageNet, () => torchvision.models.googlenet()),
        new("inception_v3", [1, 3, 299, 299], () => torchvision.models.inception_v3()),
    }.ToDictionary(e => e.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Names the catalog knows, in a stable order.</summary>
    public static IReadOnlyList<string> Names => [.. Entries.Keys];

    /// <summary>The entry for <paramref name="name"/>; an <see cref="ArgumentException"/> naming the closest known names otherwise.</summary>
    public static ModelEntry Get(string name) =>
        Entries.TryGetValue(name, out var entry)
            ? entry
            : throw new ArgumentException(
                $"Unknown model '{name}' (Model:Name). Closest: {string.Join(", ", NameSuggestions.Closest(name, Entries.Keys))}. " +
                $"Known: {string.Join(", ", Entries.Keys)}; or name a class with Model:Assembly and Model:Type.");

    /// <summary>
    /// Builds the user's model <paramref name="typeName"/> from <paramref name="assemblyPath"/>. The assembly is
    /// loaded into the default context so that it shares this process's TorchSharp.
    /// </summary>
    public static nn.Module<Tensor, Tensor> CreateFromAssembly(string assemblyPath, string typeName)
    {
        var full = Path.GetFullPath(assemblyPath);
        if (!File.Exists(full))
            throw new FileNotFoundException($"Model:Assembly '{full}' does not exist.", full);
        var assembly = AssemblyLoadContext.Default.LoadFromAssemblyPath(full);
        var type = assembly.GetType(typeName, throwOnError: false)
            ?? throw new ArgumentException(
                $"Model:Type '{typeName}' is not in '{full}'. Model types there: " +
                string.Join(", ", SafeTypes(assembly).Where(IsModelType).Select(t => t.FullName)) + ".");
        if (!IsModelType(type))
            throw new ArgumentException($"Model:Type '{typeName}' does not derive from Module<Tensor,Tensor>.");
        if (type.GetConstructor(Type.EmptyTypes) is not { } constructor)
            throw new ArgumentException($"Model:Type '{typeName}' has no public parameterless constructor.");
        return (nn.Module<Tensor, Tensor>)constructor.Invoke(null);
    }

    private static bool IsModelType(Type t) => !t.IsAbstract && typeof(nn.Module<Tensor, Tensor>).IsAssignableFrom(t);

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return e.Types.OfType<Type>(); }
    }
}
