namespace Trainer.Host.Options;

/// <summary>The "Compression" configuration section: which compressor plugins to load and from where.</summary>
public sealed class CompressionOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Compression";

    /// <summary>Folder holding one sub-folder per plugin; relative paths start at the current directory.</summary>
    public string PluginsDir { get; set; } = "plugins/bin";

    /// <summary>Plugin names; plugin <c>Name</c> is loaded from <c>&lt;PluginsDir&gt;/&lt;Name&gt;/&lt;Name&gt;.dll</c>.</summary>
    public List<string> Plugins { get; set; } = [];
}
