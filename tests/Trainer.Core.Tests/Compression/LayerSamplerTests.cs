using TorchSharp;
using TorchSharp.Modules;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Compression;

public sealed class LayerSamplerTests
{
    private static readonly long[] Shape = [1, 3, 8, 8];

    /// <summary>An editor of <paramref name="model"/> whose reference is an independent copy, over 40 random images (5 batches of 8).</summary>
    private static (ModelEditor Editor, nn.Module<Tensor, Tensor> Reference, IDisposable Data) Editor<T>(T model, Func<T> factory, long[] shape,
        Trainer.Core.Pruning.ShrinkOptions? options = null) where T : nn.Module<Tensor, Tensor>
    {
        var reference = ModelCopy.Create(factory, shape, [], model);
        var (loader, inputs, targets) = EditorFixtures.RandomImages(40, shape[1..]);
        var data = new Disposables(loader, inputs, targets, reference);
        return (new ModelEditor(model, shape, options, reference, loader), reference, data);
    }

    private sealed class Disposables(params IDisposable[] items) : IDisposable
    {
        public void Dispose()
        {
            foreach (var item in items) item.Dispose();
        }
    }

    /// <summary>Largest |Inputs·Wᵀ + b − Responses| for the layer's weight and bias.</summary>
    private static float ReconstructionError(LayerSamples samples, Tensor weight, Tensor? bias)
    {
        using var scope = torch.NewDisposeScope();
        var predicted = samples.Inputs.flatten(1).mm(weight.flatten(1).t());
        if (bias is not null) predicted = predicted + bias;
        return (predicted - samples.Responses).abs().max().item<float>();
    }

    [Theory]
    [InlineData(1, PaddingModes.Zeros)]
    [InlineData(2, PaddingModes.Reflect)]
    public void Conv_patches_times_the_weight_give_the_sampled_responses(long dilation, PaddingModes mode)
    {
        torch.manual_seed(21);
        using var model = new StridedNet(dilation, mode);
        var (editor, reference, data) = Editor(model, () => new StridedNet(dilation, mode), Shape);
        using var _ = data;

        using var samples = editor.Sample("conv2", new SamplingOptions(TrainsetRatio: 0.5, PixelsPerImage: 4, Seed: 7));

        // ceil(0.5 · 5) = 3 batches of 8 images, 4 of the 16 output positions each.
        Assert.Equal([96L, 6, 9], samples.Inputs.shape);
        Assert.Equal([96L, 5], samples.Responses.shape);
        var conv = (Conv2d)reference.named_modules().Single(m => m.name == "conv2").module;
        Assert.InRange(ReconstructionError(samples, conv.weight!, conv.bias), 0, 1e-4f);
        Assert.True(samples.Inputs.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Linear_rows_are_whole_inputs_and_outputs_per_image()
    {
        torch.manual_seed(22);
        using var model = new StridedNet();
        var (editor, reference, data) = Editor(model, () => new StridedNet(), Shape);
        using var _ = data;

        using var samples = editor.Sample("fc", new SamplingOptions(TrainsetRatio: 0.4, PixelsPerImage: 4, Seed: 1));

        Assert.Equal([16L, 80, 1], samples.Inputs.shape);
        Assert.Equal([16L, 7], samples.Responses.shape);
        var fc = (Linear)reference.named_modules().Single(m => m.name == "fc").module;
        Assert.InRange(ReconstructionError(samples, fc.weight!, fc.bias), 0, 1e-4f);
    }

    [Fact]
    public void Inputs_come_from_the_shrunk_model_and_responses_from_the_reference()
    {
        torch.manual_seed(23);
        using var model = new StridedNet();
        var (editor, reference, data) = Editor(model, () => new StridedNet(), Shape, new Trainer.Core.Pruning.ShrinkOptions { RoundTo = 1 });
        using var _ = data;
        var options = new SamplingOptions(TrainsetRatio: 0.4, PixelsPerImage: 5, Seed: 3);
        using var before = editor.Sample("conv2", options);
        var kept = new[] { false, true, true, false, true, true };

        editor.ShrinkChannels(new Dictionary<string, bool[]> { ["conv1"] = kept });
        using var after = editor.Sample("conv2", options);

        Assert.Equal([80L, 4, 9], after.Inputs.shape);
        using var keptIndex = torch.tensor(new long[] { 1, 2, 4, 5 });
        using var expectedInputs = before.Inputs.index_select(1, keptIndex);
        Assert.True(after.Inputs.allclose(expectedInputs, rtol: 0, atol: 1e-6));
        Assert.True(after.Responses.equal(before.Responses).all().item<bool>());
    }

    [Fact]
    public void A_factorized_layer_is_sampled_at_its_old_path_with_the_reference_geometry()
    {
        torch.manual_seed(27);
        using var model = new StridedNet();
        var (editor, _, data) = Editor(model, () => new StridedNet(), Shape);
        using var _ = data;
        var options = new SamplingOptions(TrainsetRatio: 0.2, PixelsPerImage: 3, Seed: 4);
        using var before = editor.Sample("conv2", options);

        editor.Factorize("conv2", 3);
        using var after = editor.Sample("conv2", options);

        Assert.Equal([24L, 6, 9], after.Inputs.shape);
        Assert.True(after.Inputs.equal(before.Inputs).all().item<bool>());
        Assert.True(after.Responses.equal(before.Responses).all().item<bool>());
        var unknown = Assert.Throws<ArgumentException>(() => editor.Sample("conv2.0", options));
        Assert.Contains("reference model: the model has no layer 'conv2.0'", unknown.Message);
    }

    [Fact]
    public void The_same_seed_gives_the_same_rows_and_MaxRows_caps_them()
    {
        torch.manual_seed(24);
        using var model = new TinyResNet();
        model.train();
        var (editor, reference, data) = Editor(model, () => new TinyResNet(), [1, 3, 8, 8]);
        using var _ = data;
        reference.train();

        using var a = editor.Sample("layer2.conv1", new SamplingOptions(1.0, 3, Seed: 5));
        using var b = editor.Sample("layer2.conv1", new SamplingOptions(1.0, 3, Seed: 5));
        using var c = editor.Sample("layer2.conv1", new SamplingOptions(1.0, 3, Seed: 6));
        using var capped = editor.Sample("layer2.conv1", new SamplingOptions(1.0, 3, Seed: 5, MaxRows: 50));

        Assert.Equal([120L, 8, 9], a.Inputs.shape);
        Assert.True(a.Inputs.equal(b.Inputs).all().item<bool>() && a.Responses.equal(b.Responses).all().item<bool>());
        Assert.False(a.Responses.equal(c.Responses).all().item<bool>());
        Assert.Equal([50L, 16], capped.Responses.shape);
        Assert.True(capped.Responses.equal(a.Responses.narrow(0, 0, 50)).all().item<bool>());
        var conv = (Conv2d)reference.named_modules().Single(m => m.name == "layer2.conv1").module;
        Assert.InRange(ReconstructionError(a, conv.weight!, null), 0, 1e-4f);
        Assert.True(model.training && reference.training); // modes restored
        Assert.All(model.named_modules(), m => Assert.True(m.module.training));
    }

    [Fact]
    public void Sampling_leaves_only_the_two_returned_tensors_alive()
    {
        torch.manual_seed(26);
        using var model = new TinyResNet();
        var (editor, _, data) = Editor(model, () => new TinyResNet(), [1, 3, 8, 8]);
        using var __ = data;
        editor.Sample("layer1.conv2", new SamplingOptions(0.2, 2)).Dispose(); // warm-up: lazily created module state
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var samples = editor.Sample("layer1.conv2", new SamplingOptions(1.0, 4, Seed: 2));
        Assert.Equal(before + 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        samples.Dispose();
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Sampling_without_data_or_reference_or_with_a_bad_layer_or_options_says_what_is_missing()
    {
        torch.manual_seed(25);
        using var model = new StridedNet();
        var noData = new ModelEditor(model, Shape);
        var missing = Assert.Throws<InvalidOperationException>(() => noData.Sample("conv2", new SamplingOptions()));
        Assert.Contains("sampling needs training data", missing.Message);
        var (loader, inputs, targets) = EditorFixtures.RandomImages(8, Shape[1..]);
        using var __ = new Disposables(loader, inputs, targets);
        var noReference = new ModelEditor(model, Shape, trainingData: loader);
        Assert.Contains("needs the reference model", Assert.Throws<InvalidOperationException>(() => noReference.Sample("conv2", new SamplingOptions())).Message);

        var (editor, _, data) = Editor(model, () => new StridedNet(), Shape);
        using var _ = data;
        var unknown = Assert.Throws<ArgumentException>(() => editor.Sample("conv3", new SamplingOptions()));
        Assert.Contains("reference model: the model has no layer 'conv3'; closest Conv2d/Linear layers: conv1, conv2", unknown.Message);
        var flatten = Assert.Throws<ArgumentException>(() => editor.Sample("flatten", new SamplingOptions()));
        Assert.Contains("'flatten' is a Flatten in the reference model; only Conv2d and Linear", flatten.Message);
        var ratio = Assert.Throws<ArgumentException>(() => editor.Sample("conv2", new SamplingOptions(TrainsetRatio: 0)));
        Assert.Contains("SamplingOptions.TrainsetRatio is 0; it must be in (0, 1]", ratio.Message);
        var pixels = Assert.Throws<ArgumentException>(() => editor.Sample("conv2", new SamplingOptions(PixelsPerImage: 0)));
        Assert.Contains("SamplingOptions.PixelsPerImage is 0", pixels.Message);

        using var sharedModel = new Graph.SharedConvNet();
        var (sharedEditor, _, sharedData) = Editor(sharedModel, () => new Graph.SharedConvNet(), Shape);
        using var ___ = sharedData;
        var shared = Assert.Throws<ArgumentException>(() => sharedEditor.Sample("shared", new SamplingOptions()));
        Assert.Contains("'shared' runs 2 times per forward pass; a shared layer cannot be sampled", shared.Message);
    }
}
