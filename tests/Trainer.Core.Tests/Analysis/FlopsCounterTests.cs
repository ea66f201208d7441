using System.Text.Json;
using Trainer.Core.Analysis;
using Trainer.Core.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

/// <summary>One TorchVision resnet18, counted once per mode at 1x3x224x224, shared by the tests of the class.</summary>
public sealed class ResNet18Counts : IDisposable
{
    public TorchSharp.Modules.ResNet Model { get; } = torchvision.models.resnet18();
    public FlopsReport Default { get; }
    public FlopsReport Full { get; }

    public ResNet18Counts()
    {
        Default = FlopsCounter.Count(Model, [1, 3, 224, 224]);
        Full = FlopsCounter.Count(Model, [1, 3, 224, 224], CountMode.Full);
    }

    public void Dispose() => Model.Dispose();
}

public class FlopsCounterTests(ResNet18Counts resnet) : IClassFixture<ResNet18Counts>
{
    private static readonly long[] FashionInput = [1, 1, 28, 28];

    // Reference figures: NNI v2.10 count_flops_params on PyTorch 1.13 (shared/reference/PEERS.md).
    [Fact]
    public void ResNet18_default_mode_equals_NNI()
    {
        Assert.Equal(1_814_073_344, resnet.Default.TotalFlops);
        Assert.Equal(11_679_912, resnet.Default.TotalParams);
        Assert.Equal(21, resnet.Default.Layers.Count); // 20 convs and fc
        Assert.Equal("layer2.0.downsample.0", resnet.Default.Layers.Single(l => l.Name.EndsWith("downsample.0") && l.Name.StartsWith("layer2")).Name);
    }

    [Fact]
    public void ResNet18_full_mode_equals_NNI()
    {
        Assert.Equal(1_819_067_368, resnet.Full.TotalFlops);
        Assert.Equal(11_689_512, resnet.Full.TotalParams);
        var pool = resnet.Full.Layer("avgpool");
        Assert.Equal("AdaptiveAvgPool2d", pool.Type);
        Assert.Equal((49 + 1) * 512, pool.Flops);
        Assert.Equal(1000 * 512 + 1000, resnet.Full.Layer("fc").Flops);
        Assert.DoesNotContain(resnet.Full.Layers, l => l.Type is "ReLU" or "MaxPool2d" or "Flatten" or "BasicBlock");
    }

    [Fact]
    public void ResNet18_rows_follow_execution_order_and_the_model_is_left_in_training_mode()
    {
        string[] first = ["conv1", "layer1.0.conv1", "layer1.0.conv2", "layer1.1.conv1"];
        Assert.Equal(first, resnet.Default.Layers.Take(4).Select(l => l.Name));
        // downsample runs after the block's conv2 in TorchVision's BasicBlock.
        var names = resnet.Default.Layers.Select(l => l.Name).ToList();
        Assert.True(names.IndexOf("layer2.0.downsample.0") > names.IndexOf("layer2.0.conv2"));
        Assert.Equal("fc", names[^1]);
        Assert.Equal([1, 64, 56, 56], resnet.Default.Layer("layer1.0.conv1").OutputShape);
        Assert.True(resnet.Model.training);
        Assert.All(resnet.Model.modules(), m => Assert.True(m.training));
    }

    [Fact]
    public void Fashion_cnn_totals_equal_NNI()
    {
        using var model = new FashionCnn();
        var d = FlopsCounter.Count(model, FashionInput);
        var f = FlopsCounter.Count(model, FashionInput, CountMode.Full);
        Assert.Equal(30_735_360, d.TotalFlops);
        Assert.Equal(1_701_130, d.TotalParams);
        Assert.Equal(31_036_682, f.TotalFlops);
        Assert.Equal(1_701_578, f.TotalParams);
    }

    [Fact]
    public void Fashion_cnn_per_layer_counts()
    {
        using var model = new FashionCnn();
        var report = FlopsCounter.Count(model, FashionInput);
        Assert.Equal(["conv1", "conv2", "conv3", "fc1", "fc2"], report.Layers.Select(l => l.Name));
        Assert.Equal([225_792L, 14_450_688, 14_450_688, 1_605_632, 2_560], report.Layers.Select(l => l.Flops));
        Assert.Equal([320L, 18_496, 73_856, 1_605_888, 2_570], report.Layers.Select(l => l.Params));
        Assert.Equal([1, 6272], report.Layer("fc1").InputShape);

        var full = FlopsCounter.Count(model, FashionInput, CountMode.Full);
        Assert.Equal(225_792 + 32 * 784, full.Layer("conv1").Flops);     // bias: one per output element
        Assert.Equal(2 * 64 * 28 * 28, full.Layer("bn2").Flops);        // two per element
        Assert.Equal(128, full.Layer("bn2").Params);                    // weight and bias, not the running statistics
        Assert.Equal(["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "fc1", "fc2"], full.Layers.Select(l => l.Name));
    }

    [Fact]
    public void Grouped_and_depthwise_convolutions_count_as_NNI_cout_spatial_kernel_cin_over_groups()
    {
        using var model = nn.Sequential(
            ("dw", nn.Conv2d(8, 8, 3, padding: 1, groups: 8)),
            ("pw", nn.Conv2d(8, 16, 1, bias: false)),
            ("grouped", nn.Conv2d(16, 8, 3, padding: 1, groups: 4)));
        var report = FlopsCounter.Count(model, [1, 8, 10, 10]);
        Assert.Equal(8 * 100 * 9 * 8 / 8, report.Layer("dw").Flops);   // 7,200: one 3x3 filter per channel
        Assert.Equal(8 * 9 + 8, report.Layer("dw").Params);
        Assert.Equal(16 * 100 * 8, report.Layer("pw").Flops);
        Assert.Equal(8 * 100 * 9 * 16 / 4, report.Layer("grouped").Flops);
        Assert.Equal(8 * 4 * 9 + 8, report.Layer("grouped").Params);
        var full = FlopsCounter.Count(model, [1, 8, 10, 10], CountMode.Full);
        Assert.Equal(7_200 + 800, full.Layer("dw").Flops);
        Assert.Equal(16 * 100 * 8, full.Layer("pw").Flops);             // no bias, nothing added
    }

    [Fact]
    public void Full_mode_counts_the_other_NNI_layers_and_default_mode_skips_them()
    {
        using var model = nn.Sequential(
            ("up", nn.ConvTranspose2d(4, 2, 2, stride: 2)),
            ("act", nn.LeakyReLU()),
            ("pool", nn.AvgPool2d(2)),
            ("bilinear", nn.Upsample(scale_factor: [2.0, 2.0], mode: UpsampleMode.Bilinear)),
            ("nearest", nn.Upsample(scale_factor: [2.0, 2.0])),
            ("gap", nn.AdaptiveAvgPool2d(3)));
        var full = FlopsCounter.Count(model, [1, 4, 5, 5], CountMode.Full);
        Assert.Equal(2 * 100 * 4 * 4 + 2 * 100, full.Layer("up").Flops);    // cout x output pixels x kernel x cin, + bias
        Assert.Equal(4 * 2 * 4 + 2, full.Layer("up").Params);
        Assert.Equal(2 * 10 * 10, full.Layer("act").Flops);                  // one per input element
        Assert.Equal(2 * 5 * 5, full.Layer("pool").Flops);                   // one per output element
        Assert.Equal(2 * 10 * 10 * 11, full.Layer("bilinear").Flops);
        Assert.Equal(0, full.Layer("nearest").Flops);
        Assert.Equal((20 / 3 * (20 / 3) + 1) * 2 * 9, full.Layer("gap").Flops); // floor(in / out) per dimension, + 1
        Assert.Equal(["up"], FlopsCounter.Count(model, [1, 4, 5, 5]).Layers.Select(l => l.Name));
    }

    [Fact]
    public void Linear_on_a_3d_input_counts_one_row_as_NNI_does()
    {
        using var model = nn.Sequential(("proj", nn.Linear(16, 4)));
        Assert.Equal(16 * 4, FlopsCounter.Count(model, [2, 5, 16]).TotalFlops);
        Assert.Equal(16 * 4 + 4, FlopsCounter.Count(model, [2, 5, 16], CountMode.Full).TotalFlops);
    }

    [Fact]
    public void A_mask_on_conv2_halves_conv2_and_the_input_channels_of_conv3()
    {
        using var model = new FashionCnn();
        var baseline = FlopsCounter.Count(model, FashionInput);
        var keep = torch.arange(64).lt(32);
        var masks = new Dictionary<string, Tensor> { ["conv2"] = keep };
        var masked = FlopsCounter.Count(model, FashionInput, outputMasks: masks);

        Assert.Equal(baseline.Layer("conv2").Flops / 2, masked.Layer("conv2").Flops);
        Assert.Equal(baseline.Layer("conv2").Params / 2, masked.Layer("conv2").Params);     // 32x32x3x3 + 32
        Assert.Equal(baseline.Layer("conv3").Flops / 2, masked.Layer("conv3").Flops);       // 32 of 64 input channels
        Assert.Equal(128 * 32 * 9 + 128, masked.Layer("conv3").Params);
        foreach (var name in new[] { "conv1", "fc1", "fc2" })
            Assert.Equal((baseline.Layer(name).Flops, baseline.Layer(name).Params), (masked.Layer(name).Flops, masked.Layer(name).Params));
        Assert.Equal([1, 64, 28, 28], masked.Layer("conv2").OutputShape);                   // shapes are the real ones

        var full = FlopsCounter.Count(model, FashionInput, CountMode.Full, masks);
        Assert.Equal(2 * 32 * 784, full.Layer("bn2").Flops);                                // per-channel layers follow the mask
        Assert.Equal(64, full.Layer("bn2").Params);
        Assert.Equal(2 * 128 * 196, full.Layer("bn3").Flops);                               // conv3 is not masked

        // A 0/1 float mask works the same; the Flatten → Linear path carries kept features to fc1.
        var fc = FlopsCounter.Count(model, FashionInput, outputMasks: new Dictionary<string, Tensor>
            { ["conv3"] = torch.cat([torch.ones(96), torch.zeros(32)]) });
        Assert.Equal(96 * 49 * 256, fc.Layer("fc1").Flops);
        Assert.Equal(96 * 49 * 256 + 256, fc.Layer("fc1").Params);
        Assert.Equal(baseline.Layer("fc2").Flops, fc.Layer("fc2").Flops);
    }

    [Fact]
    public void Masked_depthwise_conv_counts_kept_filters_and_a_depthwise_consumer_follows_its_input()
    {
        // NNI v2.10 derives cout = weight_mask.sum() / (cin * kernel), which gives 0 for a half-masked depthwise conv;
        // here the kept filters are counted.
        using var model = nn.Sequential(("conv", nn.Conv2d(8, 8, 1)), ("dw", nn.Conv2d(8, 8, 3, padding: 1, groups: 8)));
        var half = torch.arange(8).lt(4);
        var dwMasked = FlopsCounter.Count(model, [1, 8, 10, 10], outputMasks: new Dictionary<string, Tensor> { ["dw"] = half });
        Assert.Equal(4 * 100 * 9, dwMasked.Layer("dw").Flops);
        Assert.Equal(4 * 9 + 4, dwMasked.Layer("dw").Params);
        var convMasked = FlopsCounter.Count(model, [1, 8, 10, 10], outputMasks: new Dictionary<string, Tensor> { ["conv"] = half });
        Assert.Equal(4 * 100 * 8, convMasked.Layer("conv").Flops);
        // The depthwise conv carries conv's channels 1:1: the 4 dropped channels are gone from it too (as the shrinker removes them).
        Assert.Equal(4 * 100 * 9, convMasked.Layer("dw").Flops);
        Assert.Equal(4 * 9 + 4, convMasked.Layer("dw").Params);
    }

    [Fact]
    public void A_grouped_consumer_counts_the_live_inputs_of_each_group()
    {
        using var model = nn.Sequential(("conv", nn.Conv2d(4, 8, 1)), ("grouped", nn.Conv2d(8, 6, 3, padding: 1, groups: 2)));
        // One channel dropped in each half: each of grouped's 2 groups reads 3 of its 4 input channels.
        var mask = torch.tensor(new[] { true, true, false, true, true, false, true, true });
        var masked = FlopsCounter.Count(model, [1, 4, 10, 10], outputMasks: new Dictionary<string, Tensor> { ["conv"] = mask });
        Assert.Equal(6 * 100 * 9 * 6 / 2, masked.Layer("grouped").Flops);
        Assert.Equal(6 * 3 * 9 + 6, masked.Layer("grouped").Params);
    }

    [Fact]
    public void A_consumer_after_a_concatenation_counts_the_live_channels_of_each_branch()
    {
        using var model = new TwoBranchConcat();
        long[] input = [1, 3, 16, 16];
        var baseline = FlopsCounter.Count(model, input);
        // a keeps 6 of 8 channels, b keeps all 8: the head reads 14 of 16 concatenated channels.
        var masked = FlopsCounter.Count(model, input, outputMasks: new Dictionary<string, Tensor> { ["a"] = torch.arange(8).lt(6) });
        Assert.Equal(baseline.Layer("a").Flops * 6 / 8, masked.Layer("a").Flops);
        Assert.Equal(baseline.Layer("b").Flops, masked.Layer("b").Flops);
        Assert.Equal(baseline.Layer("head").Flops * 14 / 16, masked.Layer("head").Flops);
        Assert.Equal(4 * 14 + 4, masked.Layer("head").Params);
    }

    private sealed class TwoBranchConcat : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d a = nn.Conv2d(3, 8, 3, padding: 1), b = nn.Conv2d(3, 8, 1), head = nn.Conv2d(16, 4, 1);

        public TwoBranchConcat() : base(nameof(TwoBranchConcat)) => RegisterComponents();

        public override Tensor forward(Tensor x) => head.call(torch.cat([a.call(x), b.call(x)], 1));
    }

    [Fact]
    public void Masks_do_not_cross_a_residual_block()
    {
        long[] input = [1, 3, 64, 64];
        var baseline = FlopsCounter.Count(resnet.Model, input);
        var half = torch.arange(64).lt(32);
        var inside = FlopsCounter.Count(resnet.Model, input, outputMasks: new Dictionary<string, Tensor> { ["layer1.0.conv1"] = half });
        Assert.Equal(baseline.Layer("layer1.0.conv2").Flops / 2, inside.Layer("layer1.0.conv2").Flops);

        // layer1.0.conv2's output is added to the block's input, which conv1 (the stem) keeps whole: the next block still
        // sees 64 live channels, and so does layer1.0.bn2 (it normalises channels the stem keeps alive after the add).
        var residual = FlopsCounter.Count(resnet.Model, input, CountMode.Full, new Dictionary<string, Tensor> { ["layer1.0.conv2"] = half });
        var fullBaseline = FlopsCounter.Count(resnet.Model, input, CountMode.Full);
        Assert.Equal(fullBaseline.Layer("layer1.0.conv2").Flops / 2, residual.Layer("layer1.0.conv2").Flops);
        Assert.Equal(fullBaseline.Layer("layer1.1.conv1").Flops, residual.Layer("layer1.1.conv1").Flops);
    }

    [Fact]
    public void Masks_on_every_producer_of_a_residual_group_reach_the_consumers_behind_the_adds()
    {
        long[] input = [1, 3, 64, 64];
        var baseline = FlopsCounter.Count(resnet.Model, input);
        var half = torch.arange(64).lt(32);
        // The stem conv1 and layer1's two conv2 are added together: one coupled group of 64 channels.
        var masks = new[] { "conv1", "layer1.0.conv2", "layer1.1.conv2" }.ToDictionary(n => n, _ => half);
        var masked = FlopsCounter.Count(resnet.Model, input, outputMasks: masks);
        foreach (var consumer in new[] { "layer1.0.conv1", "layer1.1.conv1", "layer2.0.conv1", "layer2.0.downsample.0" })
            Assert.Equal(baseline.Layer(consumer).Flops / 2, masked.Layer(consumer).Flops);
        Assert.Equal(baseline.Layer("layer2.0.conv2").Flops, masked.Layer("layer2.0.conv2").Flops);
    }

    [Fact]
    public void Invalid_masks_are_rejected()
    {
        using var model = new FashionCnn();
        Assert.Throws<ArgumentException>(() => FlopsCounter.Count(model, FashionInput,
            outputMasks: new Dictionary<string, Tensor> { ["conv9"] = torch.ones(64) }));
        Assert.Throws<ArgumentException>(() => FlopsCounter.Count(model, FashionInput,
            outputMasks: new Dictionary<string, Tensor> { ["conv2"] = torch.ones(63) }));
        Assert.Throws<ArgumentException>(() => FlopsCounter.Count(model, FashionInput,
            outputMasks: new Dictionary<string, Tensor> { ["bn2"] = torch.ones(64) }));
        Assert.Throws<ArgumentException>(() => FlopsCounter.Count(model, FashionInput,
            outputMasks: new Dictionary<string, Tensor> { ["conv2"] = torch.full(64, 0.5f) }));
    }

    [Fact]
    public void A_wrong_input_shape_names_the_failing_layer()
    {
        var error = Assert.Throws<ModelAnalysisException>(() => FlopsCounter.Count(resnet.Model, [1, 3, 10]));
        Assert.StartsWith("layer 'conv1' (Conv2d) failed on input [1,3,10]; it takes [N,3,*,*]: ", error.Message);
        Assert.NotNull(error.InnerException);
        Assert.True(resnet.Model.training);

        using var model = new FashionCnn();
        var late = Assert.Throws<ModelAnalysisException>(() => FlopsCounter.Count(model, [1, 1, 32, 32]));
        Assert.Equal("fc1", late.LayerName);
        Assert.StartsWith("layer 'fc1' (Linear) failed on input [1,8192]; it takes [..., 6272]: ", late.Message);
        // The hooks were removed: a later count is unaffected.
        Assert.Equal(30_735_360, FlopsCounter.Count(model, FashionInput).TotalFlops);
    }

    [Fact]
    public void Counting_restores_each_modules_own_training_flag_and_leaves_no_hooks()
    {
        using var model = new FashionCnn();
        model.train();
        var bn1 = model.named_modules().Single(m => m.name == "bn1").module;
        bn1.eval();
        var first = FlopsCounter.Count(model, FashionInput);
        var second = FlopsCounter.Count(model, FashionInput);
        Assert.Equal(first.Layers.Count, second.Layers.Count);   // a leftover hook would add rows
        Assert.True(model.training);
        Assert.False(bn1.training);
        Assert.True(model.named_modules().Single(m => m.name == "bn2").module.training);
    }

    [Fact]
    public void Csv_json_table_and_format()
    {
        using var model = new FashionCnn();
        var report = FlopsCounter.Count(model, FashionInput);
        var lines = report.ToCsv().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("name,type,input_shape,output_shape,flops,params", lines[0]);
        Assert.Equal("conv1,Conv2d,1x1x28x28,1x32x28x28,225792,320", lines[1]);
        Assert.Equal("fc2,Linear,1x256,1x10,2560,2570", lines[^1]);
        Assert.Equal(6, lines.Length);

        using var json = JsonDocument.Parse(report.ToJson());
        Assert.Equal(30_735_360, json.RootElement.GetProperty("total_flops").GetInt64());
        Assert.Equal(1_701_130, json.RootElement.GetProperty("total_params").GetInt64());
        var rows = json.RootElement.GetProperty("rows");
        Assert.Equal(5, rows.GetArrayLength());
        Assert.Equal("conv2", rows[1].GetProperty("name").GetString());
        Assert.Equal(64, rows[1].GetProperty("output_shape")[1].GetInt64());

        Assert.Equal(6, report.ToTable().Rows.Count);
        var text = new StringWriter();
        var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
            { Out = new Spectre.Console.AnsiConsoleOutput(text), Ansi = Spectre.Console.AnsiSupport.No });
        console.Profile.Width = 160;
        console.Write(report.ToTable());
        Assert.Contains("1x32x28x28", text.ToString());
        Assert.Contains("14,450,688", text.ToString());
        Assert.Contains("1,701,130", text.ToString());
        Assert.Equal("1,814,073,344", FlopsReport.Format(1_814_073_344));
        Assert.Equal("0", FlopsReport.Format(0));
        Assert.Equal("1x64x56x56", FlopsReport.FormatShape([1, 64, 56, 56]));
    }
}
