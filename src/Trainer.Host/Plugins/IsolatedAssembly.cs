using System.Reflection;
using McMasterLoader = McMaster.NETCore.Plugins.PluginLoader;

namespace Trainer.Host.Plugins;

/// <summary>
/// Loads a user's assembly (a plugin or a task) in its own load context that shares the host's TorchSharp, Abstractions and
/// logging types, after refusing a folder that bundles the host's own assemblies and a file that is not a loadable .NET
/// assembly. Each refusal is one message, made into the caller's exception type.
/// </summary>
internal static class IsolatedAssembly
{
    /// <summary>Loads <paramref name="path"/> (a file that exists).</summary>
    /// <param name="path">Full path of the assembly.</param>
    /// <param name="kind">"plugin" or "task", for the messages.</param>
    /// <param name="sharedFiles">Files the host provides, which the assembly's folder must not hold.</param>
    /// <param name="sharedTypes">Types whose assemblies the load context shares with the host.</param>
    /// <param name="references">How the assembly's project references the host's assemblies without copying them.</param>
    /// <param name="error">Makes the caller's exception from a message.</param>
    /// <returns>The loader (keep it for the life of the host: its context holds the code) and the assembly.</returns>
    public static (McMasterLoader Loader, Assembly Assembly) Load(string path, string kind, IReadOnlyList<string> sharedFiles, Type[] sharedTypes,
        string references, Func<string, Exception> error)
    {
        var folder = Path.GetDirectoryName(path)!;
        var bundled = sharedFiles.Where(f => File.Exists(Path.Combine(folder, f))).ToList();
        if (bundled.Count > 0)
            throw error($"its folder {folder} holds its own {string.Join(" and ", bundled)}; the host provides these and a {kind} must not bundle " +
                        $"them (its tensors and base types would not be the host's). {references}, rebuild, and delete the copies from the folder.");

        // Read and checked before the runtime sees it: an unreadable, empty, truncated or damaged file is refused by name.
        var bytes = Core.IO.FileBytes.Read(path, $"the {kind} file", message => error(message));
        if (PluginFile.Problem(bytes) is { } problem) throw error($"not a loadable .NET assembly ({path}): {problem}.");
        try
        {
            var loader = McMasterLoader.CreateFromAssemblyFile(path, sharedTypes: sharedTypes, config => config.PreferSharedTypes = true);
            return (loader, loader.LoadDefaultAssembly());
        }
        catch (Exception e) when (e is BadImageFormatException or FileLoadException or IOException or InvalidOperationException)
        {
            throw error($"not a loadable .NET assembly ({path}): {e.Message}");
        }
    }
}
