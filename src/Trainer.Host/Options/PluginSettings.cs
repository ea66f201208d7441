namespace Trainer.Host.Options;

/// <summary>The settings a compressor or quantizer plugin is handed: its own section, then the section-wide overrides.</summary>
public static class PluginSettings
{
    /// <summary>The section of <paramref name="plugin"/> in <paramref name="sections"/>, with <paramref name="overrides"/> over it.</summary>
    public static IReadOnlyDictionary<string, string> Merge(IReadOnlyDictionary<string, Dictionary<string, string>> sections, string plugin,
        IReadOnlyDictionary<string, string> overrides)
    {
        var merged = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (sections.TryGetValue(plugin, out var own)) foreach (var (k, v) in own) merged[k] = v;
        foreach (var (k, v) in overrides) merged[k] = v;
        return merged;
    }
}
