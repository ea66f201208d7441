using Plugins.Pruners;

namespace Pruners.Tests;

/// <summary>NNI's config list: parsing, NNI's canonical form (later entries claim layers first, exclude, default,
/// op_partial_names) and the errors for bad input.</summary>
public sealed class ConfigListTests
{
    private static readonly (string, string)[] Modules =
    [
        ("conv1", "Conv2d"), ("bn1", "BatchNorm2d"), ("layer1", "Sequential"), ("layer1.0.conv1", "Conv2d"),
        ("layer1.0.conv2", "Conv2d"), ("fc", "Linear"),
    ];

    private static IReadOnlyList<LayerTarget> Resolve(string json, bool global = false) =>
        ConfigResolver.Resolve(ConfigList.Parse(json, "config_list"), Modules, MaskPlanner.ChannelTypes, global, "config_list");

    [Fact]
    public void A_later_entry_claims_its_layers_before_an_earlier_one_and_exclude_removes_them()
    {
        var targets = Resolve("""
            [{"op_types": ["Conv2d", "Linear"], "sparsity_per_layer": 0.5},
             {"op_names": ["layer1.0.conv2"], "sparsity": 0.25},
             {"op_names": ["fc"], "exclude": true}]
            """);
        Assert.Equal(["conv1", "layer1.0.conv1", "layer1.0.conv2"], targets.Select(t => t.Name));
        Assert.Equal([0.5, 0.5, 0.25], targets.Select(t => t.Sparsity));
    }

    [Fact]
    public void An_exclude_before_a_selecting_entry_does_not_win_as_in_NNIs_dedupe()
    {
        var targets = Resolve("""[{"op_names": ["conv1"], "exclude": true}, {"op_types": ["Conv2d"], "sparsity_per_layer": 0.3}]""");
        Assert.Equal(["conv1", "layer1.0.conv1", "layer1.0.conv2"], targets.Select(t => t.Name));
    }

    [Fact]
    public void Partial_names_complete_to_the_modules_containing_them_and_default_means_weighted_types()
    {
        Assert.Equal(["layer1.0.conv1", "layer1.0.conv2"],
            Resolve("""[{"op_partial_names": ["layer1.0."], "sparsity_per_layer": 0.5}]""").Select(t => t.Name));
        Assert.Equal(["conv1", "layer1.0.conv1", "layer1.0.conv2", "fc"],
            Resolve("""[{"op_types": ["default"], "sparsity_per_layer": 0.5}]""").Select(t => t.Name));
    }

    [Fact]
    public void Global_entries_share_one_total_sparsity_and_carry_max_sparsity_per_layer()
    {
        var targets = Resolve("""[{"op_types": ["Conv2d"], "total_sparsity": 0.6, "max_sparsity_per_layer": 0.8}]""", global: true);
        Assert.All(targets, t => Assert.Equal((0.6, 0.8), (t.Sparsity, t.MaxSparsity!.Value)));
        Assert.Equal(0.99, Resolve("""[{"op_types": ["Linear"], "total_sparsity": 0.6}]""", global: true).Single().MaxSparsity);
    }

    [Theory]
    [InlineData("""[{"op_types": ["Conv3x3"], "sparsity_per_layer": 0.5}]""", "unknown op type 'Conv3x3'")]
    [InlineData("""[{"op_types": ["BatchNorm2d"], "sparsity_per_layer": 0.5}]""", "unknown op type 'BatchNorm2d'")]
    [InlineData("""[{"op_types": ["Conv2d"], "sparsity_per_layer": 1.0}]""", "config_list[0].sparsity_per_layer is 1.0; it must be a number in [0, 1)")]
    [InlineData("""[{"op_types": ["Conv2d"], "sparsity": -0.1}]""", "config_list[0].sparsity is -0.1")]
    [InlineData("""[{"op_names": ["layer1.0.conv3"], "sparsity": 0.5}]""", "the model has no module 'layer1.0.conv3'; closest: layer1.0.conv1, layer1.0.conv2")]
    [InlineData("""[{"op_names": ["bn1"], "sparsity": 0.5}]""", "selects 'bn1', a BatchNorm2d; this pruner prunes Conv2d, Linear")]
    [InlineData("""[{"op_types": ["Conv2d"], "sparsity": 0.5, "sparsity_per_layer": 0.5}]""", "set only one")]
    [InlineData("""[{"op_types": ["Conv2d"]}]""", "needs 'sparsity_per_layer'")]
    [InlineData("""[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5, "op_type": ["Linear"]}]""", "unknown key 'op_type'")]
    [InlineData("""[{"op_types": ["Conv2d"], "total_sparsity": 0.5}]""", "total_sparsity needs mode global")]
    [InlineData("""[{"op_names": ["fc"], "exclude": true}]""", "selects no layer")]
    [InlineData("""{"op_types": ["Conv2d"]}""", "must be a non-empty JSON array")]
    [InlineData("""[{"op_types": ["Conv2d"], "sparsity": 0.5""", "is not valid JSON")]
    public void Bad_config_lists_fail_with_one_message_naming_the_entry_and_key(string json, string message)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => Resolve(json));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Max_sparsity_per_layer_outside_0_1_and_per_layer_entries_in_global_mode_are_refused()
    {
        Assert.Contains("config_list[0].max_sparsity_per_layer is 0; it must be a number in (0, 1]", Assert.ThrowsAny<ArgumentException>(
            () => Resolve("""[{"op_types": ["Conv2d"], "total_sparsity": 0.5, "max_sparsity_per_layer": 0}]""", true)).Message);
        Assert.Contains("config_list[0].max_sparsity_per_layer is 1.5", Assert.ThrowsAny<ArgumentException>(
            () => Resolve("""[{"op_types": ["Conv2d"], "total_sparsity": 0.5, "max_sparsity_per_layer": 1.5}]""", true)).Message);
        Assert.Contains("mode global prunes to one total_sparsity",
            Assert.ThrowsAny<ArgumentException>(() => Resolve("""[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}]""", true)).Message);
        Assert.Contains("one total_sparsity for every selected layer", Assert.ThrowsAny<ArgumentException>(() => Resolve(
            """[{"op_types": ["Conv2d"], "total_sparsity": 0.5}, {"op_names": ["fc"], "total_sparsity": 0.4}]""", true)).Message);
    }

    [Fact]
    public void Settings_need_a_config_list_a_known_mode_and_known_op_types_before_any_model_is_seen()
    {
        Assert.Contains("Compression:Settings:config_list is required",
            Assert.ThrowsAny<ArgumentException>(() => PrunerSettings.Read(new Dictionary<string, string>(), "l1-norm", ImportanceCriterion.L1Norm)).Message);
        Assert.Contains("level prunes single weights", Assert.ThrowsAny<ArgumentException>(() => PrunerSettings.Read(
            new Dictionary<string, string> { ["config_list"] = "[]", ["mode"] = "dependency_aware" }, "level", ImportanceCriterion.Level)).Message);
        Assert.ThrowsAny<ArgumentException>(() => PrunerSettings.Read(
            new Dictionary<string, string> { ["config_list"] = """[{"sparsity": 0.5}]""", ["mode"] = "balanced" }, "fpgm", ImportanceCriterion.Fpgm));
        Assert.Contains("Compression:Settings:config_list[0].op_types: unknown op type 'Conv3x3'", Assert.ThrowsAny<ArgumentException>(
            () => new L2NormPrunerCompressor().CheckSettings(new Dictionary<string, string> { ["config_list"] = """[{"op_types": ["Conv3x3"], "sparsity": 0.5}]""" })).Message);
        new LevelPrunerCompressor().CheckSettings(new Dictionary<string, string> { ["config_list"] = """[{"op_types": ["Embedding"], "sparsity": 0.5}]""" });
        var read = PrunerSettings.Read(new Dictionary<string, string> { ["config_list"] = """[{"sparsity": 0.5}]""", ["MODE"] = "Global" },
            "fpgm", ImportanceCriterion.Fpgm);
        Assert.Equal(PruningMode.Global, read.Mode);
    }
}
