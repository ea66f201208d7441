using Trainer.Abstractions.Compression;

namespace Plugins.Pruners;

/// <summary>
/// Settings of the NNI pruners (section <c>Compression:Settings</c>): <c>config_list</c>, NNI's config list as JSON text
/// (required), and <c>mode</c>: normal (default), dependency_aware (channel pruners) or global.
/// </summary>
/// <param name="ConfigList">The parsed config list.</param>
/// <param name="Mode">The allocation mode.</param>
public sealed record PrunerSettings(IReadOnlyList<ConfigEntry> ConfigList, PruningMode Mode)
{
    /// <summary>Where errors say the config list lives.</summary>
    public const string ConfigListKey = "Compression:Settings:config_list";

    /// <summary>Reads and checks the settings, everything that needs no model (JSON, keys, ranges, op types); one
    /// <see cref="ArgumentException"/> naming the key for each bad value.</summary>
    public static PrunerSettings Read(IReadOnlyDictionary<string, string> settings, string compressorName, PrunerKind kind)
    {
        var reader = new SettingsReader(settings);
        var json = reader.Text("config_list") ?? throw new ArgumentException(
            $"{ConfigListKey} is required: NNI's config list as JSON, e.g. [{{\"op_types\": [\"Conv2d\"], \"sparsity_per_layer\": 0.5}}]",
            ConfigListKey);
        var mode = reader.Choice("mode", "normal", "normal", "dependency_aware", "global") switch
        {
            "dependency_aware" => PruningMode.DependencyAware,
            "global" => PruningMode.Global,
            _ => PruningMode.Normal,
        };
        if (kind == PrunerKind.Level && mode == PruningMode.DependencyAware)
            throw new ArgumentException("Compression:Settings:mode: level prunes single weights; use normal or global " +
                "(dependency_aware is for l1-norm, l2-norm and fpgm)", "Compression:Settings:mode");
        reader.ThrowOnUnknown(compressorName);
        var entries = Plugins.Pruners.ConfigList.Parse(json, ConfigListKey);
        ConfigResolver.CheckOpTypes(entries, kind == PrunerKind.Level ? ConfigResolver.WeightedModules : MaskPlanner.ChannelTypes, ConfigListKey);
        return new PrunerSettings(entries, mode);
    }
}
