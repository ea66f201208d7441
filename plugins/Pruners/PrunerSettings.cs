using Trainer.Abstractions.Compression;

namespace Plugins.Pruners;

/// <summary>
/// Settings of the NNI pruners (section <c>Compression:Settings</c>): <c>config_list</c>, NNI's config list as JSON text
/// (required), and <c>mode</c> (normal, dependency_aware or global, as each NNI pruner accepts; slim's default is global,
/// as NNI's). The data-driven pruners read NNI's own arguments too: slim <c>training_epochs</c> (default 1) and <c>scale</c>
/// (λ, default 0.0001); apoz and mean-activation <c>training_steps</c> (default 20) and <c>activation</c> (relu, gelu,
/// relu6; default relu); taylor-fo <c>training_steps</c> (default 20).
/// </summary>
/// <param name="ConfigList">The parsed config list.</param>
/// <param name="Mode">The allocation mode.</param>
public sealed record PrunerSettings(IReadOnlyList<ConfigEntry> ConfigList, PruningMode Mode)
{
    /// <summary>Where errors say the config list lives.</summary>
    public const string ConfigListKey = "Compression:Settings:config_list";

    /// <summary>Slim: epochs of regularised training before the BatchNorm scales are ranked (NNI's training_epochs).</summary>
    public int TrainingEpochs { get; init; } = 1;

    /// <summary>Slim: λ of the λ·Σ‖γ‖₁ term (NNI's scale, default 0.0001).</summary>
    public double Scale { get; init; } = 0.0001;

    /// <summary>apoz, mean-activation, taylor-fo: training steps (batches) the importance is collected over.</summary>
    public int TrainingSteps { get; init; } = 20;

    /// <summary>apoz, mean-activation: the activation NNI applies to each selected layer's output ("relu", "gelu", "relu6").</summary>
    public string Activation { get; init; } = "relu";

    /// <summary>The modes each pruner accepts (NNI v2.10's), the first its default.</summary>
    public static IReadOnlyList<string> ModesOf(ImportanceCriterion kind) => kind switch
    {
        ImportanceCriterion.Level => ["normal", "global"],
        ImportanceCriterion.Slim => ["global", "normal"],
        ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation => ["normal", "dependency_aware"],
        _ => ["normal", "dependency_aware", "global"],
    };

    /// <summary>The module types the pruner's config list may select.</summary>
    public static IReadOnlyCollection<string> TypesOf(ImportanceCriterion kind) => kind switch
    {
        ImportanceCriterion.Level => ConfigResolver.WeightedModules,
        ImportanceCriterion.Slim => MaskPlanner.BatchNormTypes,
        _ => MaskPlanner.ChannelTypes,
    };

    /// <summary>Reads and checks the settings, everything that needs no model (JSON, keys, ranges, op types); one
    /// <see cref="ArgumentException"/> naming the key for each bad value.</summary>
    public static PrunerSettings Read(IReadOnlyDictionary<string, string> settings, string compressorName, ImportanceCriterion kind)
    {
        var reader = new SettingsReader(settings);
        var json = reader.Text("config_list") ?? throw new ArgumentException(
            $"{ConfigListKey} is required: NNI's config list as JSON, e.g. [{{\"op_types\": [\"{(kind == ImportanceCriterion.Slim ? "BatchNorm2d" : "Conv2d")}\"], " +
            $"\"{(kind == ImportanceCriterion.Slim ? "total_sparsity" : "sparsity_per_layer")}\": 0.5}}]", ConfigListKey);
        var modes = ModesOf(kind);
        var modeText = reader.Text("mode") ?? modes[0];
        if (!modes.Contains(modeText, StringComparer.OrdinalIgnoreCase))
            throw new ArgumentException(kind == ImportanceCriterion.Level && modeText.Equals("dependency_aware", StringComparison.OrdinalIgnoreCase)
                ? "Compression:Settings:mode: level prunes single weights; use normal or global (dependency_aware is for channel pruners)"
                : $"Compression:Settings:mode is '{modeText}', but {compressorName} takes {string.Join(", ", modes)} (as NNI's pruner)",
                "Compression:Settings:mode");
        var mode = modeText.ToLowerInvariant() switch
        {
            "dependency_aware" => PruningMode.DependencyAware,
            "global" => PruningMode.Global,
            _ => PruningMode.Normal,
        };
        var result = new PrunerSettings([], mode);
        if (kind == ImportanceCriterion.Slim)
            result = result with { TrainingEpochs = reader.Int("training_epochs", 1, 1, 1000), Scale = reader.Double("scale", 0.0001, 0, 1) };
        if (kind is ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation or ImportanceCriterion.TaylorFo)
            result = result with { TrainingSteps = reader.Int("training_steps", 20, 1, 1_000_000) };
        if (kind is ImportanceCriterion.Apoz or ImportanceCriterion.MeanActivation)
            result = result with { Activation = reader.Choice("activation", "relu", "relu", "gelu", "relu6") };
        reader.ThrowOnUnknown(compressorName);
        var entries = Plugins.Pruners.ConfigList.Parse(json, ConfigListKey);
        ConfigResolver.CheckOpTypes(entries, TypesOf(kind), ConfigListKey);
        return result with { ConfigList = entries };
    }
}
