using System.Security.Cryptography;
using System.Text.Json;
using Plugins.Pruners;
using Trainer.Core.Compression;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>
/// The masks of level, l1-norm, l2-norm and fpgm on TorchVision's resnet18, in normal and dependency-aware mode (and level
/// and l1 through NNI's global allocator), against those NNI v2.10's own code computed for the same weights and config
/// lists (reference/nni_masks.py).
/// </summary>
public sealed class NniParityTests : IClassFixture<NniParityTests.ResNetFixture>
{
    /// <summary>The fixture file, the weights loaded once, and the core's view of the model.</summary>
    public sealed class ResNetFixture : IDisposable
    {
        public JsonDocument Reference { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "reference", "nni_masks.json")));
        public nn.Module<Tensor, Tensor> Model { get; }
        public ModelEditor Editor { get; }

        public ResNetFixture()
        {
            Model = SeededResNet18.Load(Reference.RootElement);
            Editor = new ModelEditor(Model, [1, 3, 64, 64]);
        }

        public void Dispose()
        {
            Model.Dispose();
            Reference.Dispose();
        }
    }

    private readonly ResNetFixture fixture;

    public NniParityTests(ResNetFixture fixture) => this.fixture = fixture;

    public static TheoryData<int> Cases() => new(Enumerable.Range(0, 9));

    [Fact]
    public void Weights_loaded_through_PyTorchWeights_are_the_scripts_bit_for_bit()
    {
        var expected = fixture.Reference.RootElement.GetProperty("weights_sha256_16").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        var actual = SeededResNet18.Fingerprint(fixture.Model);
        Assert.Equal(62, expected.Count);
        Assert.Equal(expected.OrderBy(p => p.Key), actual.Select(p => KeyValuePair.Create(p.Key, (string?)p.Value)).OrderBy(p => p.Key));
    }

    [Fact]
    public void Core_channel_groups_are_NNIs_channel_dependency_sets_on_resnet18()
    {
        var nni = fixture.Reference.RootElement.GetProperty("cases")[3].GetProperty("channel_dependency").EnumerateArray()
            .Select(s => string.Join(",", s.EnumerateArray().Select(n => n.GetString()).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal);
        var core = fixture.Editor.ChannelGroups.Select(g => string.Join(",", g.Producers.Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal);
        Assert.Equal(nni, core);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Masks_equal_NNI_v2_10s_for_the_same_config_list(int index)
    {
        var expected = fixture.Reference.RootElement.GetProperty("cases")[index];
        var kind = expected.GetProperty("pruner").GetString() switch
        {
            "level" => ImportanceCriterion.Level,
            "l1" => ImportanceCriterion.L1Norm,
            "l2" => ImportanceCriterion.L2Norm,
            _ => ImportanceCriterion.Fpgm,
        };
        var mode = expected.GetProperty("mode").GetString() switch
        {
            "dependency_aware" => PruningMode.DependencyAware,
            "global" => PruningMode.Global,
            _ => PruningMode.Normal,
        };
        var config = ConfigList.Parse(expected.GetProperty("config_list").GetRawText(), "config_list");
        using var masks = MaskPlanner.Plan(fixture.Model, kind, mode, config, fixture.Editor, "config_list");

        var layers = expected.GetProperty("layers").EnumerateObject().ToList();
        Assert.Equal(layers.Select(l => l.Name).Order(StringComparer.Ordinal), masks.Masks.Keys.Order(StringComparer.Ordinal));
        foreach (var layer in layers)
        {
            if (kind != ImportanceCriterion.Level)
            {
                var kept = layer.Value.EnumerateArray().Select(v => v.GetInt32()).ToArray();
                Assert.True(kept.SequenceEqual(masks.KeptChannels(layer.Name)), $"{layer.Name}: kept channels differ from NNI's");
                continue;
            }
            var flags = (masks.Masks[layer.Name] != 0).to(ScalarType.Byte).contiguous().bytes.ToArray();
            Assert.Equal(layer.Value.GetProperty("kept").GetInt64(), flags.Count(b => b != 0));
            Assert.True(layer.Value.GetProperty("sha256").GetString() == Convert.ToHexStringLower(SHA256.HashData(flags)),
                $"{layer.Name}: level mask differs from NNI's");
            if (layer.Value.TryGetProperty("mask_hex", out var hex))
                Assert.Equal(hex.GetString(), Convert.ToHexStringLower(PackBits(flags)));
        }
    }

    // numpy.packbits: eight flags per byte, the first in the most significant bit.
    private static byte[] PackBits(byte[] flags)
    {
        var packed = new byte[(flags.Length + 7) / 8];
        for (var i = 0; i < flags.Length; i++)
            if (flags[i] != 0) packed[i / 8] |= (byte)(0x80 >> (i % 8));
        return packed;
    }
}
