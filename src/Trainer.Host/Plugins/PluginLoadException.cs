namespace Trainer.Host.Plugins;

/// <summary>
/// A configured plugin could not be loaded. The run stops before any work; the CLI prints the message and exits
/// with the bad-input code.
/// </summary>
public sealed class PluginLoadException(string fileName, string reason)
    : Exception($"plugin {fileName}: {reason}")
{
    /// <summary>The plugin's file name ("MyCompressor.dll").</summary>
    public string FileName { get; } = fileName;

    /// <summary>Why it was refused, and how to fix it where that is known.</summary>
    public string Reason { get; } = reason;
}
