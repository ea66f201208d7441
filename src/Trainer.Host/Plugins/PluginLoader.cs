using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TorchSharp;
using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
using Trainer.Abstractions.Quantization;
using Trainer.Host.Options;
using McMasterLoader = McMaster.NETCore.Plugins.PluginLoader;

namespace Trainer.Host.Plugins;

/// <summary>One loaded plugin: where it came from and the compressors and quantizers it holds.</summary>
/// <param name="Name">The configured plugin name.</param>
/// <param name="Path">Full path of the plugin's assembly.</param>
/// <param name="Assembly">The plugin's assembly, in its own load context.</param>
/// <param name="Compressors">One instance of each compressor class the plugin defines.</param>
/// <param name="Quantizers">One instance of each quantizer class the plugin defines.</param>
public sealed record LoadedPlugin(string Name, string Path, Assembly Assembly, IReadOnlyList<ICompressor> Compressors,
    IReadOnlyList<IQuantizer> Quantizers);

/// <summary>
/// Loads the compressor plugins named in the "Compression" section, each in its own load context that shares
/// Trainer.Abstractions, Trainer.Core, TorchSharp and logging with the host (so tensors, modules and loggers cross the boundary as
/// the same types). Every failure is a <see cref="PluginLoadException"/> naming the plugin's file and the reason.
/// </summary>
public sealed class PluginLoader
{
    /// <summary>
    /// Types whose assemblies (and those assemblies' references) the host shares with every plugin. A plugin's
    /// own copy of these assemblies would make its tensors and interfaces different types from the host's.
    /// </summary>
    public static readonly Type[] SharedTypes =
        [typeof(ICompressor), typeof(IQuantizer), typeof(IBatchLoader), typeof(torch), typeof(ILogger),
         typeof(Core.Pruning.Importance.WeightImportance)];

    /// <summary>Files a plugin folder must not hold: the host provides them, and a plugin's own copy is refused.</summary>
    public static readonly string[] SharedFiles = ["TorchSharp.dll", "Trainer.Abstractions.dll", "Trainer.Core.dll"];

    // The McMaster loaders stay referenced for the life of the host: their load contexts hold the plugins' code.
    private readonly List<McMasterLoader> _loaders = [];
    private readonly List<LoadedPlugin> _plugins = [];

    /// <summary>Loads every plugin <paramref name="options"/> names, in order; throws at the first that fails.</summary>
    public PluginLoader(IOptions<CompressionOptions> options, ILogger<PluginLoader> logger)
    {
        var o = options.Value;
        foreach (var name in o.Plugins)
        {
            var plugin = Load(name, o.PluginsDir);
            logger.LogInformation("Loaded plugin {Plugin} ({Path}): {Compressors}", name, plugin.Path,
                string.Join(", ", plugin.Compressors.Select(c => c.Name).Concat(plugin.Quantizers.Select(q => q.Name))));
        }
    }

    /// <summary>The loaded plugins, in configuration order.</summary>
    public IReadOnlyList<LoadedPlugin> Plugins => _plugins;

    /// <summary>Every compressor of every loaded plugin.</summary>
    public IReadOnlyList<ICompressor> Compressors => [.. _plugins.SelectMany(p => p.Compressors)];

    /// <summary>The compressor named <paramref name="name"/>; throws naming the available ones when there is none.</summary>
    public ICompressor GetCompressor(string name) =>
        Compressors.FirstOrDefault(c => c.Name == name)
        ?? throw new KeyNotFoundException($"No compressor named '{name}'; loaded: {(Compressors.Count == 0 ? "none" : string.Join(", ", Compressors.Select(c => c.Name)))}.");

    /// <summary>Every quantizer of every loaded plugin.</summary>
    public IReadOnlyList<IQuantizer> Quantizers => [.. _plugins.SelectMany(p => p.Quantizers)];

    /// <summary>The quantizer named <paramref name="name"/>; throws naming the available ones when there is none.</summary>
    public IQuantizer GetQuantizer(string name) =>
        Quantizers.FirstOrDefault(q => q.Name == name)
        ?? throw new KeyNotFoundException($"No quantizer named '{name}'; loaded: {(Quantizers.Count == 0 ? "none" : string.Join(", ", Quantizers.Select(q => q.Name)))}.");

    /// <summary>
    /// Loads plugin <paramref name="name"/> from <c>&lt;pluginsDir&gt;/&lt;name&gt;/&lt;name&gt;.dll</c> and adds it to
    /// <see cref="Plugins"/>; throws <see cref="PluginLoadException"/> when it cannot be used.
    /// </summary>
    public LoadedPlugin Load(string name, string pluginsDir)
    {
        var (plugin, loader) = LoadCore(name, pluginsDir);
        _loaders.Add(loader);
        foreach (var compressor in plugin.Compressors)
            if (_plugins.FirstOrDefault(p => p.Compressors.Any(c => c.Name == compressor.Name)) is { } owner)
                throw new PluginLoadException(System.IO.Path.GetFileName(plugin.Path),
                    $"compressor name '{compressor.Name}' is already taken by plugin {owner.Name}; compressor names must be unique.");
        foreach (var quantizer in plugin.Quantizers)
            if (_plugins.FirstOrDefault(p => p.Quantizers.Any(q => q.Name == quantizer.Name)) is { } owner)
                throw new PluginLoadException(System.IO.Path.GetFileName(plugin.Path),
                    $"quantizer name '{quantizer.Name}' is already taken by plugin {owner.Name}; quantizer names must be unique.");
        _plugins.Add(plugin);
        return plugin;
    }

    private static (LoadedPlugin, McMasterLoader) LoadCore(string name, string pluginsDir)
    {
        var fileName = name + ".dll";
        var folder = System.IO.Path.GetFullPath(System.IO.Path.Combine(pluginsDir, name));
        var path = System.IO.Path.Combine(folder, fileName);
        if (Directory.Exists(path))
            throw new PluginLoadException(fileName, $"{path} is a directory, not an assembly; build the plugin so that {fileName} lands in {folder}.");
        if (!File.Exists(path))
            throw new PluginLoadException(fileName,
                $"file not found; looked for {path} (Compression:PluginsDir = '{pluginsDir}'). " +
                $"Build the plugin so that its output lands in {folder}, or set Compression:PluginsDir.");

        var (loader, assembly) = IsolatedAssembly.Load(path, "plugin", SharedFiles, SharedTypes,
            "In the plugin's project, reference Trainer.Abstractions (and Trainer.Core, if it uses it) with <Private>false</Private> and TorchSharp with ExcludeAssets=\"runtime\"",
            message => new PluginLoadException(fileName, message));

        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or FileLoadException or TypeLoadException
                                      or BadImageFormatException)
        {
            throw new PluginLoadException(fileName, $"its types cannot be loaded ({e.Message}); is a dependency missing from {folder}?");
        }
        var candidates = types.Where(t => (typeof(ICompressor).IsAssignableFrom(t) || typeof(IQuantizer).IsAssignableFrom(t))
            && t is { IsClass: true, IsAbstract: false }).ToList();
        var usable = candidates.Where(t => t.GetConstructor(Type.EmptyTypes) is not null).ToList();
        if (usable.Count == 0)
            throw new PluginLoadException(fileName,
                "no ICompressor: the assembly has no public non-abstract class implementing " +
                $"{typeof(ICompressor).FullName} (or {typeof(IQuantizer).FullName}) with a public parameterless constructor" +
                (candidates.Count > 0 ? $" ({string.Join(", ", candidates.Select(t => t.FullName))} lack one)." : "."));

        int? major;
        try
        {
            major = ContractMajorOf(assembly);
        }
        catch (Exception e) when (e is BadImageFormatException or TypeLoadException or FileNotFoundException or FileLoadException)
        {
            throw new PluginLoadException(fileName, $"its attributes cannot be read ({e.Message}); is a dependency missing from {folder}?");
        }
        if (ContractError(major) is { } contractError)
            throw new PluginLoadException(fileName, contractError);

        var compressors = new List<ICompressor>();
        var quantizers = new List<IQuantizer>();
        foreach (var type in usable)
        {
            try
            {
                var instance = Activator.CreateInstance(type)!;
                if (instance is ICompressor compressor) compressors.Add(compressor);
                if (instance is IQuantizer quantizer) quantizers.Add(quantizer);
            }
            catch (Exception e) when (e is TargetInvocationException or MissingMethodException or TypeLoadException or BadImageFormatException
                                          or MemberAccessException or FileNotFoundException or FileLoadException)
            {
                throw new PluginLoadException(fileName, $"creating {type.FullName} failed: {e.InnerException?.Message ?? e.Message}");
            }
        }
        return (new LoadedPlugin(name, path, assembly, compressors, quantizers), loader);
    }

    /// <summary>
    /// The <see cref="TrainerPluginAttribute.ContractMajor"/> an assembly declares, or null when it carries no
    /// TrainerPlugin attribute. Read from the attribute's metadata, so it works whatever contract the plugin was built against.
    /// </summary>
    public static int? ContractMajorOf(Assembly assembly)
    {
        var attribute = assembly.GetCustomAttributesData()
            .FirstOrDefault(a => a.AttributeType.FullName == typeof(TrainerPluginAttribute).FullName);
        if (attribute is null) return null;
        var major = attribute.NamedArguments.FirstOrDefault(a => a.MemberName == nameof(TrainerPluginAttribute.ContractMajor));
        return major.TypedValue.Value is int value ? value : 0;
    }

    /// <summary>
    /// Null when a plugin declaring <paramref name="pluginMajor"/> (null: no TrainerPlugin attribute) can be used with
    /// this host's contract (<see cref="ContractVersion.Major"/>); otherwise the reason it is refused.
    /// </summary>
    public static string? ContractError(int? pluginMajor) => pluginMajor switch
    {
        null => "no [assembly: TrainerPlugin(ContractMajor = ...)] attribute, so the contract it was built against is unknown; " +
                "add [assembly: TrainerPlugin(ContractMajor = ContractVersion.Major)] to the plugin and rebuild it.",
        ContractVersion.Major => null,
        _ => $"built against plugin contract major version {pluginMajor}, but this host implements major version {ContractVersion.Major}; " +
             $"rebuild the plugin against this version of Trainer.Abstractions (and update it to contract {ContractVersion.Major}).",
    };
}
