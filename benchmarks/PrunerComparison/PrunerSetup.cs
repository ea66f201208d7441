using System.Globalization;
using Plugins.ChannelPruning;
using Plugins.Pruners;
using Trainer.Abstractions.Compression;

namespace Benchmarks.PrunerComparison;

/// <summary>Each pruner's compressor and the NNI config list that brings the Fashion CNN to the MACs target.</summary>
internal static class PrunerSetup
{
    /// <summary>The compressor named <paramref name="name"/>.</summary>
    public static ICompressor Create(string name) => name switch
    {
        "level" => new LevelPrunerCompressor(),
        "l1-norm" => new L1NormPrunerCompressor(),
        "l2-norm" => new L2NormPrunerCompressor(),
        "fpgm" => new FpgmPrunerCompressor(),
        "slim" => new SlimPrunerCompressor(),
        "apoz" => new ApozPrunerCompressor(),
        "mean-activation" => new MeanActivationPrunerCompressor(),
        "taylor-fo" => new TaylorFoPrunerCompressor(),
        _ => new ChannelPruningCompressor(),
    };

    /// <summary>The settings of <paramref name="name"/>: one sparsity_per_layer for every prunable layer but the classifier,
    /// the smallest (in steps of 0.005) whose NNI kept counts (n − int(s·n)) bring the MACs under the target; slim prunes
    /// the BatchNorms after conv1..3 only (fc1 has none), so its sparsity is found over those three groups.</summary>
    public static (Dictionary<string, string> Settings, string Description) Settings(string name, IModelEditor editor, Options options)
    {
        if (name == "lasso")
            return (new Dictionary<string, string> { ["method"] = "lasso", ["trainset_ratio"] = "0.05", ["sampled_pixels_per_img"] = "10" },
                "channel-pruning lasso, uniform keep ratio to the MACs target");
        if (name == "level")
            return (new Dictionary<string, string> { ["config_list"] = Config(["Conv2d", "Linear"], 0.5) }, "sparsity_per_layer 0.5 (unstructured)");
        var groups = editor.ChannelGroups.Where(g => g.IsPrunable && (name != "slim" || g.Producers[0].StartsWith("conv", StringComparison.Ordinal))).ToList();
        var budget = options.Target * editor.Cost.Macs;
        double sparsity = 0;
        for (var s = 0.0; s < 1; s += 0.005)
        {
            var kept = groups.ToDictionary(g => g.Id, g => g.Channels - (int)(s * g.Channels));
            if (kept.Values.Any(k => k < 1)) break;
            sparsity = s;
            if (editor.MacsIfKept(kept) <= budget) break;
        }
        sparsity = Math.Round(sparsity, 3);
        var settings = new Dictionary<string, string>
        {
            ["config_list"] = name == "slim" ? Config(["BatchNorm2d"], sparsity) : Config(["Conv2d", "Linear"], sparsity),
        };
        if (name == "slim")
        {
            // NNI's default mode is global, whose per-layer counts follow the trained scales; mode normal holds the MACs target.
            settings["mode"] = "normal";
            settings["training_epochs"] = options.SlimEpochs.ToString(CultureInfo.InvariantCulture);
        }
        if (name is "apoz" or "mean-activation" or "taylor-fo")
            settings["training_steps"] = options.TrainingSteps.ToString(CultureInfo.InvariantCulture);
        return (settings, string.Create(CultureInfo.InvariantCulture, $"sparsity_per_layer {sparsity}"));
    }

    private static string Config(IEnumerable<string> types, double sparsity) => string.Create(CultureInfo.InvariantCulture,
        $$"""[{"op_types": [{{string.Join(", ", types.Select(t => $"\"{t}\""))}}], "sparsity_per_layer": {{sparsity}}}, {"op_names": ["fc2"], "exclude": true}]""");
}
