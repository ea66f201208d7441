using TorchSharp;
using TorchSharp.Modules;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tests.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Compression;

public sealed class FactorizeTests
{
    [Fact]
    public void A_strided_padded_conv_becomes_kxk_to_rank_then_1x1_with_the_bias()
    {
        torch.manual_seed(5);
        using var model = new StridedNet();
        var editor = new ModelEditor(model, [1, 3, 8, 8]);

        var factorized = editor.Factorize("conv2", 4);

        var first = Assert.IsType<Conv2d>(factorized.First);
        var second = Assert.IsType<Conv2d>(factorized.Second);
        Assert.Equal((6L, 4L, false), (first.in_channels, first.out_channels, first.bias is not null));
        Assert.Equal([[3L, 3], [2L, 2], [1L, 1], [1L, 1]], new[] { first.kernel_size, first.stride, first.padding!, first.dilation });
        Assert.Equal((4L, 5L, true), (second.in_channels, second.out_channels, second.bias is not null));
        Assert.Equal([[1L, 1], [1L, 1], [0L, 0]], new[] { second.kernel_size, second.stride, second.padding! });
        Assert.Equal(["conv1", "conv2.0", "conv2.1", "fc"], editor.Layers.Select(l => l.Name));
        Assert.Equal([1L, 5, 4, 4], editor.Layers[2].OutputShape);
        Assert.Contains("conv2.1.bias", model.state_dict().Keys);
        Assert.DoesNotContain("conv2.0.bias", model.state_dict().Keys);
        Assert.Equal(new FactorizeEdit("conv2", 4), Assert.Single(editor.Edits));
        // 6·9·4 + 4·5 (+5 bias) replace 6·9·5 (+5): MACs per output position 216 + 20 instead of 270.
        Assert.Equal(16L * (216 + 20), editor.Layers[1].Macs + editor.Layers[2].Macs);
    }

    [Fact]
    public void A_linear_becomes_in_to_rank_without_bias_then_rank_to_out()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);

        var factorized = editor.Factorize("fc1", 32);

        var first = Assert.IsType<Linear>(factorized.First);
        var second = Assert.IsType<Linear>(factorized.Second);
        Assert.Equal((6272L, 32L, false, 32L, 256L, true),
            (first.in_features, first.out_features, first.bias is not null, second.in_features, second.out_features, second.bias is not null));
        Assert.Equal(["conv1", "conv2", "conv3", "fc1.0", "fc1.1", "fc2"], editor.Layers.Select(l => l.Name));
        Assert.Equal(["conv1", "conv2", "conv3", "fc1.0", "fc1.1", "fc2"], editor.ChannelGroups.Select(g => g.Id));
        using var output = EditorFixtures.Eval(model, torch.zeros(2, 1, 28, 28));
        Assert.Equal([2L, 10], output.shape);
    }

    [Fact]
    public void Bad_factorizations_name_the_layer_and_the_allowed_range()
    {
        using var model = new FashionCnn();
        var editor = new ModelEditor(model, [1, 1, 28, 28]);

        var unknown = Assert.Throws<ArgumentException>(() => editor.Factorize("fc3", 2));
        Assert.Contains("the model has no layer 'fc3'; closest Conv2d/Linear layers: fc1, fc2", unknown.Message);
        var notWeighted = Assert.Throws<ArgumentException>(() => editor.Factorize("bn1", 2));
        Assert.Contains("'bn1' is a BatchNorm2d; only Conv2d and Linear layers can be factorized", notWeighted.Message);
        var high = Assert.Throws<ArgumentException>(() => editor.Factorize("conv1", 10));
        Assert.Contains("rank 10 for 'conv1' is outside [1, 9]", high.Message); // min(32, 1·3·3)
        var zero = Assert.Throws<ArgumentException>(() => editor.Factorize("fc2", 0));
        Assert.Contains("rank 0 for 'fc2' is outside [1, 10]", zero.Message);

        using var grouped = new GroupedConvNet();
        var groupedEditor = new ModelEditor(grouped, [1, 3, 8, 8]);
        var e = Assert.Throws<ArgumentException>(() => groupedEditor.Factorize("grouped", 4));
        Assert.Contains("'grouped' is a grouped conv (4 groups)", e.Message);
        var typed = Assert.Throws<ArgumentException>(() => groupedEditor.Factorize("conv1", 2));
        Assert.Contains("cannot factorize 'conv1'", typed.Message);
        Assert.Contains("declare the field as nn.Module<Tensor, Tensor>", typed.Message);
        Assert.Empty(groupedEditor.Edits);

        Assert.Empty(editor.Edits);
        Assert.Equal(["conv1", "conv2", "conv3", "fc1", "fc2"], editor.Layers.Select(l => l.Name));
    }
}
