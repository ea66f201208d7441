using System.Text.Json;
using Xunit.Abstractions;
using Plugins.Pruners;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>Masks become a real model: a channel pruner's compressor shrinks resnet18 through the core's editor, and the
/// smaller model computes what the masked model computes.</summary>
public sealed class ShrinkTests(ITestOutputHelper output)
{
    private static readonly long[] InputShape = [1, 3, 64, 64];

    [Theory]
    [InlineData("l1-norm", "dependency_aware", 0.5)]
    [InlineData("fpgm", "normal", 0.25)]
    public void Pruned_resnet18_shrinks_and_its_forward_equals_the_masked_models(string pruner, string mode, double sparsity)
    {
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "reference", "nni_masks.json")));
        using var model = SeededResNet18.Load(reference.RootElement);
        using var masked = SeededResNet18.Load(reference.RootElement);
        var configJson = $$"""[{"op_types": ["Conv2d"], "sparsity_per_layer": {{sparsity}}}]""";
        // RoundTo 1: the core keeps exactly the channels the masks keep (its default rounds counts up to multiples of 8).
        var editor = new ModelEditor(model, InputShape, new ShrinkOptions { RoundTo = 1 });
        var groupsBefore = editor.ChannelGroups;
        var paramsBefore = editor.Cost.Params;

        // The masked model: every channel the groups drop is zeroed in its producers and their BatchNorms.
        var kind = pruner == "l1-norm" ? ImportanceCriterion.L1Norm : ImportanceCriterion.Fpgm;
        using (var masks = MaskPlanner.Plan(masked, kind, mode == "normal" ? PruningMode.Normal : PruningMode.DependencyAware,
                   ConfigList.Parse(configJson, "config_list"), new ModelEditor(masked, InputShape), "config_list"))
            MaskGroups(masked, groupsBefore, masks);

        ICompressor compressor = pruner == "l1-norm" ? new L1NormPrunerCompressor() : new FpgmPrunerCompressor();
        var result = compressor.Compress(new CompressionRequest
        {
            Model = model, ExampleInputShape = InputShape, Editor = editor,
            Settings = new Dictionary<string, string> { ["config_list"] = configJson, ["mode"] = mode },
        });

        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var expectedKept = (long)Math.Ceiling(64 * (1 - sparsity)); // 64 − int(64·s) for the layer1 convs
        Assert.Equal(expectedKept, ((TorchSharp.Modules.Conv2d)modules["layer1.0.conv1"]).weight!.shape[0]);
        Assert.Equal(expectedKept, ((TorchSharp.Modules.BatchNorm2d)modules["layer1.0.bn1"]).weight!.shape[0]);
        Assert.True(editor.Cost.Params < paramsBefore * (1 - sparsity / 2), $"params {paramsBefore} -> {editor.Cost.Params}");
        Assert.Contains(result.Layers, n => n.Layer == "layer1.0.conv1" && n.Note == $"keeps {expectedKept} of 64 channels");

        model.eval();
        masked.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        manual_seed(3);
        var x = randn(2, 3, 64, 64);
        var expected = masked.call(x);
        var actual = model.call(x);
        Assert.Equal(expected.shape, actual.shape);
        output.WriteLine($"{pruner} {mode} {sparsity}: params {paramsBefore} -> {editor.Cost.Params}, max |shrunk - masked| = " +
            $"{(expected - actual).abs().max().item<float>()} (max |output| {expected.abs().max().item<float>()})");
        var gap = (expected - actual).abs().max().item<float>();
        // Same sums over fewer (zero) terms: float32 reordering only, relative to outputs of order 1.
        Assert.True(gap < 1e-4f * Math.Max(1f, expected.abs().max().item<float>()), $"max |shrunk - masked| = {gap}");
    }

    // Zeroes each dropped channel of every group in its producers' weights and in the BatchNorm after each producer, so
    // the channel is zero wherever the smaller model no longer has it.
    private static void MaskGroups(nn.Module model, IReadOnlyList<ChannelGroupInfo> groups, PruningMasks masks)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        using var _ = no_grad();
        foreach (var group in groups.Where(g => g.IsPrunable && g.Producers.Any(masks.Masks.ContainsKey)))
        {
            var keep = ones(group.Channels);
            foreach (var c in Enumerable.Range(0, group.Channels))
                if (group.Producers.All(p => masks.Masks.ContainsKey(p) && masks.Masks[p][c].item<float>() == 0)) keep[c] = 0;
            foreach (var producer in group.Producers)
            {
                ((TorchSharp.Modules.Conv2d)modules[producer]).weight!.mul_(keep.view(-1, 1, 1, 1));
                var bn = (TorchSharp.Modules.BatchNorm2d)modules[BatchNormOf(producer)];
                bn.weight!.mul_(keep);
                bn.bias!.mul_(keep);
            }
        }
    }

    private static string BatchNormOf(string conv) =>
        conv.EndsWith("downsample.0", StringComparison.Ordinal) ? conv[..^1] + "1" : conv[..^5] + "bn" + conv[^1];
}
