using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Pruning;

namespace Trainer.Core.Tests.Compression;

public sealed class ChannelGroupTests
{
    [Fact]
    public void FashionCnn_has_one_group_per_producer_with_its_consumers_and_the_flatten_block()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);

        var groups = editor.ChannelGroups;
        Assert.Equal(["conv1", "conv2", "conv3", "fc1", "fc2"], groups.Select(g => g.Id));
        Assert.All(groups, g => Assert.Equal([g.Id], g.Producers));
        Assert.Equal([32, 64, 128, 256, 10], groups.Select(g => g.Channels));
        Assert.Equal([new ChannelConsumer("conv2", 0, 1)], groups[0].Consumers);
        Assert.Equal([new ChannelConsumer("conv3", 0, 1)], groups[1].Consumers);
        Assert.Equal([new ChannelConsumer("fc1", 0, 49)], groups[2].Consumers);
        Assert.Equal([new ChannelConsumer("fc2", 0, 1)], groups[3].Consumers);
        Assert.Empty(groups[4].Consumers);
        Assert.All(groups.Take(4), g => Assert.True(g.IsPrunable, g.BlockedBy));
        Assert.Contains("'fc2' produces the model's output", groups[4].BlockedBy);

        var allowed = new ModelEditor(model, [1, 1, 28, 28], new ShrinkOptions { AllowOutputLayer = true });
        Assert.True(allowed.ChannelGroups[4].IsPrunable);
    }

    [Fact]
    public void FashionCnn_layers_and_cost_are_the_counted_macs_and_all_parameters()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);

        Assert.Equal(["conv1", "conv2", "conv3", "fc1", "fc2"], editor.Layers.Select(l => l.Name));
        var conv2 = editor.Layers[1];
        Assert.Equal(("conv2", "Conv2d", 32, 64, (3, 3), 1, 64L * 784 * 9 * 32),
            (conv2.Name, conv2.Type, conv2.InChannels, conv2.OutChannels, conv2.KernelSize, conv2.Groups, conv2.Macs));
        Assert.Equal([1L, 64, 28, 28], editor.Layers[1].OutputShape);
        Assert.Equal(("Linear", 6272, 256, 256L * 6272), (editor.Layers[3].Type, editor.Layers[3].InChannels, editor.Layers[3].OutChannels, editor.Layers[3].Macs));
        // conv1 225,792 + conv2 14,450,688 + conv3 14,450,688 + fc1 1,605,632 + fc2 2,560.
        Assert.Equal(30_735_360L, editor.Cost.Macs);
        Assert.Equal(model.parameters().Sum(p => p.numel()), editor.Cost.Params);
        Assert.Equal(1_701_130L + 448, editor.Cost.Params); // conv/fc weights and biases, plus the BatchNorms' affine parameters
    }

    [Fact]
    public void Residual_adds_couple_producers_and_every_reader_of_the_group_is_a_consumer()
    {
        using var model = new TinyResNet();
        var editor = new ModelEditor(model, [1, 3, 16, 16]);

        var groups = editor.ChannelGroups.ToDictionary(g => g.Id);
        Assert.Equal(["stem", "layer1.conv1", "layer2.conv1", "layer2.conv2", "fc"], editor.ChannelGroups.Select(g => g.Id));
        Assert.Equal(["stem", "layer1.conv2"], groups["stem"].Producers);
        Assert.Equal(["layer1.conv1", "layer2.conv1", "layer2.downsample.0"], groups["stem"].Consumers.Select(c => c.Layer));
        Assert.All(groups["stem"].Consumers, c => Assert.Equal((0, 1), (c.Offset, c.BlockSize)));
        Assert.Equal(["layer2.conv2", "layer2.downsample.0"], groups["layer2.conv2"].Producers);
        Assert.Equal([new ChannelConsumer("fc", 0, 1)], groups["layer2.conv2"].Consumers);
        Assert.Equal(8, groups["stem"].Channels);
        Assert.Equal(16, groups["layer2.conv2"].Channels);
        Assert.Null(groups["stem"].BlockedBy);
        Assert.NotNull(groups["fc"].BlockedBy);
    }
}
