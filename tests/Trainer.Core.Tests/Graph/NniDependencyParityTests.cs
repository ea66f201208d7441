using System.Text.Json;
using Trainer.Core.Graph;
using static TorchSharp.torchvision;

namespace Trainer.Core.Tests.Graph;

/// <summary>
/// `analyze deps`' channel dependency sets equal NNI v2.10's ChannelDependency on TorchVision's MobileNets: a depthwise conv
/// is a layer of its own, residual adds couple the project convs, and a squeeze-and-excitation product couples the
/// depthwise conv with the excitation's fc2. Reference: Graph/reference/nni_channel_dependency.py run on NNI v2.10's code.
/// </summary>
public sealed class NniDependencyParityTests
{
    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Graph", "reference", "nni_channel_dependency.json"))).RootElement;

    [Theory]
    [InlineData("mobilenet_v2")]
    [InlineData("mobilenet_v3_small")]
    public void ChannelDependencySetsEqualNni(string name)
    {
        using var model = name == "mobilenet_v2" ? (TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor>)models.mobilenet_v2()
            : models.mobilenet_v3_small();
        var graph = ModelGraph.Build(model, [1, 3, 224, 224]);
        var expected = Reference.GetProperty(name).GetProperty("channel_sets").EnumerateArray()
            .Select(set => string.Join(",", set.EnumerateArray().Select(l => l.GetString()).Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal).ToList();
        var actual = graph.ChannelDependency.Sets.Select(set => string.Join(",", set.Order(StringComparer.Ordinal))).Order(StringComparer.Ordinal).ToList();

        Assert.Equal(expected, actual);
        Assert.Contains(expected, s => s.Contains(".fc2") && s.Contains(".block.1.0") || name == "mobilenet_v2");
    }
}
