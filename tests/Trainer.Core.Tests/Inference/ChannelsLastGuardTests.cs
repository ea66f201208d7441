using TorchSharp.Modules;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Inference;

/// <summary>The channels-last guard, proven on every CPU with an injected faulty kernel: the wrong layer stays NCHW,
/// is reported and recorded, and the model still computes what it computed before.</summary>
[Trait("Category", "Numeric")]
public sealed class ChannelsLastGuardTests
{
    private static readonly long[] Shape = [1, 3, 12, 12];

    private static nn.Module<Tensor, Tensor> Net()
    {
        manual_seed(11);
        var model = nn.Sequential(("c1", nn.Conv2d(3, 16, 3, padding: 1)), ("r1", nn.ReLU()), ("c2", nn.Conv2d(16, 24, 3, padding: 1)),
            ("r2", nn.ReLU()), ("c3", nn.Conv2d(24, 32, 1, stride: 2)), ("f", nn.Flatten()), ("fc", nn.Linear(32 * 6 * 6, 5)));
        model.eval();
        return model;
    }

    /// <summary>libtorch's channels-last conv, off by 0.5 on <paramref name="layer"/> (at batches of at least
    /// <paramref name="fromBatch"/>): the kind of fault oneDNN has on some CPUs.</summary>
    private static ChannelsLastGuard.ChannelsLastConv FaultyAt(string layer, long fromBatch = 1) => (name, conv, input, weight) =>
    {
        var y = ConvCall.Forward(conv, input, weight, conv.bias?.detach());
        return name == layer && input.shape[0] >= fromBatch ? y.add(0.5) : y;
    };

    private static Conv2d Conv(nn.Module model, string name) => (Conv2d)model.named_modules().Single(m => m.name == name).module;

    [Fact]
    public void Libtorchs_kernels_in_force_are_right_in_channels_last_for_every_layer()
    {
        Assert.Empty(ChannelsLastGuard.FindFaultyConvs(Net(), Shape));
    }

    [Fact]
    public void An_injected_faulty_kernel_is_found_in_exactly_its_layer_at_the_first_batch_size_it_shows()
    {
        var always = ChannelsLastGuard.FindFaultyConvs(Net(), Shape, channelsLastConv: FaultyAt("c2"));
        Assert.Equal(["c2"], always.Select(f => f.Layer));
        Assert.Equal(1, always[0].Batch);
        Assert.Equal(0.5, always[0].MaxAbsDifference, 3);
        Assert.True(always[0].Excess > 1e3);

        // A fault that only batched inputs show is found at the first batched size checked.
        var batched = ChannelsLastGuard.FindFaultyConvs(Net(), Shape, [1, 4, 32], FaultyAt("c3", fromBatch: 2));
        Assert.Equal([("c3", 4L)], batched.Select(f => (f.Layer, f.Batch)));
        Assert.Empty(ChannelsLastGuard.FindFaultyConvs(Net(), Shape, [1], FaultyAt("c3", fromBatch: 2)));
    }

    [Fact]
    public void The_inference_form_keeps_the_faulty_layer_NCHW_reports_it_and_computes_what_the_model_did()
    {
        var model = Net();
        using var x = randn([4, 3, 12, 12], generator: new Generator(2));
        Tensor before;
        using (inference_mode()) before = model.call(x).clone();

        var report = InferenceForm.Apply(model, Shape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast, ChannelsLastConv = FaultyAt("c2") });

        Assert.Equal(MemoryLayout.ChannelsLast, report.Layout);
        Assert.Equal(["c2"], report.ContiguousLayers.Select(f => f.Layer));
        Assert.Contains("1 conv(s) kept NCHW (c2)", report.ToString());
        Assert.True(ChannelsLast.IsPinned(Conv(model, "c2")));
        Assert.True(Conv(model, "c2").weight.is_contiguous());
        Assert.True(ChannelsLast.IsChannelsLast(Conv(model, "c1").weight));
        Assert.True(ChannelsLast.IsChannelsLast(Conv(model, "c3").weight));
        Assert.Equal(["c2"], ChannelsLast.PinnedLayers(model));
        using (inference_mode()) Assert.True((model.call(x) - before).abs().max().item<float>() < 1e-4);
        before.Dispose();

        // Contiguous needs no guard: nothing is pinned.
        var contiguous = Net();
        var plain = InferenceForm.Apply(contiguous, Shape, new InferenceFormOptions { Layout = MemoryLayout.Contiguous, ChannelsLastConv = FaultyAt("c2") });
        Assert.Empty(plain.ContiguousLayers);
        Assert.Empty(ChannelsLast.PinnedLayers(contiguous));
    }

    [Fact]
    public void A_saved_channels_last_model_reloads_with_its_recorded_NCHW_layers_and_refuses_an_unknown_one()
    {
        var folder = Directory.CreateTempSubdirectory("trainer-guard-").FullName;
        try
        {
            var model = Net();
            InferenceForm.Apply(model, Shape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast, ChannelsLastConv = FaultyAt("c2") });
            var manifest = new CompressionManifest
            {
                Model = new ModelIdentity("guard-net", "", "", Shape),
                Original = new ModelMetrics(0, 0, double.NaN, double.NaN), Layout = CompressionManifest.ChannelsLastLayout, ContiguousLayers = ["c2"],
            };
            var path = Path.Combine(folder, "manifest.json");
            CompressedModel.Save(path, Path.Combine(folder, "model.weights"), manifest, model);
            Assert.True(ChannelsLast.IsPinned(Conv(model, "c2")));      // saving keeps the layout and the pin

            using var loaded = CompressedModel.Load(path, Net, out var reloaded);
            Assert.Equal(["c2"], reloaded.ContiguousLayers);
            Assert.Equal(["c2"], ChannelsLast.PinnedLayers(loaded));
            Assert.True(ChannelsLast.IsChannelsLast(Conv(loaded, "c1").weight));
            using var x = randn([4, 3, 12, 12], generator: new Generator(4));
            using (inference_mode()) Assert.Equal(0, (loaded.call(x) - model.call(x)).abs().max().item<float>());

            (reloaded with { ContiguousLayers = ["c9"] }).Save(path);
            var e = Assert.Throws<InvalidDataException>(() => CompressedModel.Load(path, Net, out _));
            Assert.Contains("'c9'", e.Message);
            Assert.Contains("manifest.json", e.Message);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
