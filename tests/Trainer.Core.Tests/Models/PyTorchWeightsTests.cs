using Trainer.Core.Models;
using Trainer.Core.Tests.TensorBoard;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Models;

/// <summary>
/// The C# twin of reference/make_pytorch_fixture.py's SmallConvNet: the same layers under the same names
/// (features.0 … features.6, classifier), so PyTorch's state_dict loads into it.
/// </summary>
public sealed class SmallConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding: 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride: 2, padding: 1), nn.BatchNorm2d(16), nn.ReLU());
    private readonly AdaptiveAvgPool2d pool = nn.AdaptiveAvgPool2d(1);
    private readonly Linear classifier;

    public SmallConvNet() : this(16) { }

    /// <summary>A variant whose classifier takes <paramref name="classifierInputs"/> features (for the misshaped-tensor test).</summary>
    public SmallConvNet(int classifierInputs) : base(nameof(SmallConvNet))
    {
        classifier = nn.Linear(classifierInputs, 10);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return classifier.call(pool.call(features.call(x)).flatten(1)).MoveToOuterDisposeScope();
    }
}

/// <summary>The same network without its classifier: the file then has two tensors the model lacks.</summary>
public sealed class SmallConvNetFeatures : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding: 1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, stride: 2, padding: 1), nn.BatchNorm2d(16), nn.ReLU());

    public SmallConvNetFeatures() : base(nameof(SmallConvNetFeatures)) => RegisterComponents();

    public override Tensor forward(Tensor x) => features.call(x);
}

public class PyTorchWeightsTests
{
    private static string Reference(string file) => Path.Combine(AppContext.BaseDirectory, "Models", "reference", file);

    private static Tensor ReadFloats(string file, long[] shape)
    {
        var bytes = File.ReadAllBytes(Reference(file));
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);   // little-endian float32, as x86-64 holds it
        return tensor(values).reshape(shape);
    }

    [Fact]
    [Trait("Category", "Numeric")]
    public void A_state_dict_saved_by_PyTorch_gives_PyTorchs_outputs()
    {
        using var scope = NewDisposeScope();
        using var model = new SmallConvNet();
        var copied = PyTorchWeights.Load(Reference("small_conv.pt"), model);
        model.eval();
        var input = ReadFloats("small_conv_input.bin", [2, 3, 16, 16]);
        var expected = ReadFloats("small_conv_output.bin", [2, 10]);
        using var _ = no_grad();
        var output = model.call(input);
        Assert.Equal(16, copied);   // 10 parameters, 4 running statistics, 2 BatchNorm counters
        Assert.Equal(new long[] { 2, 10 }, output.shape);
        // float32 convolutions summing 72 products, in a different kernel order than PyTorch's: errors near 1e-6.
        Assert.True((output - expected).abs().max().item<float>() < 1e-4f,
            $"max |C# - PyTorch| = {(output - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void BatchNorm_running_statistics_and_the_counter_are_loaded()
    {
        using var model = new SmallConvNet();
        PyTorchWeights.Load(Reference("small_conv.pt"), model);
        using var scope = NewDisposeScope();   // the file's tensors
        var file = PyTorchWeights.Read(Reference("small_conv.pt"));
        var state = model.state_dict();
        foreach (var name in new[] { "features.1.running_mean", "features.1.running_var", "features.5.running_mean", "features.5.running_var" })
            Assert.True(state[name].eq(file[name]).all().item<bool>(), name);
        // TorchSharp's BatchNorm keeps PyTorch's counter; the fixture's 5 training-mode passes set it to 5.
        Assert.Equal(5L, file["features.1.num_batches_tracked"].item<long>());
        Assert.Equal(5L, state["features.1.num_batches_tracked"].item<long>());
        Assert.Equal(5L, state["features.5.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void Loaded_parameters_still_train()
    {
        using var model = new SmallConvNet();
        PyTorchWeights.Load(Reference("small_conv.pt"), model);
        Assert.All(model.parameters(), p => Assert.True(p.requires_grad));
        using var scope = NewDisposeScope();
        model.call(randn(2, 3, 16, 16)).sum().backward();
        Assert.All(model.parameters(), p => Assert.NotNull(p.grad));
    }

    [Fact]
    public void A_file_without_the_BatchNorm_counters_loads()
    {
        // PyTorch before 0.4.1 saved no num_batches_tracked: the module keeps its own counter, as PyTorch does.
        using var model = new SmallConvNet();
        var copied = PyTorchWeights.Load(Reference("no_counters.pt"), model);
        Assert.Equal(14, copied);
        using var scope = NewDisposeScope();   // the file's tensors
        var file = PyTorchWeights.Read(Reference("small_conv.pt"));
        var state = model.state_dict();
        Assert.True(state["features.5.running_var"].eq(file["features.5.running_var"]).all().item<bool>());
        Assert.Equal(0L, state["features.1.num_batches_tracked"].item<long>());
    }

    [Fact]
    public void A_missing_tensor_is_named_with_its_shape()
    {
        using var model = new SmallConvNet();
        using var scope = NewDisposeScope();   // the file's tensors
        var file = PyTorchWeights.Read(Reference("small_conv.pt"));
        file.Remove("features.4.weight");
        Assert.Equal("missing from the file: features.4.weight (model [16,8,3,3])", PyTorchWeights.Mismatch(file, model.state_dict()));
    }

    [Fact]
    public void Extra_tensors_are_named_with_their_shapes_and_nothing_is_loaded()
    {
        using var model = new SmallConvNetFeatures();
        var before = model.state_dict()["features.0.weight"].clone();
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Load(Reference("small_conv.pt"), model));
        Assert.Contains($"PyTorch state_dict '{Reference("small_conv.pt")}' does not fit the model: " +
                        "not in the model: classifier.bias (file [10]), classifier.weight (file [10,16]).", error.Message);
        Assert.True(model.state_dict()["features.0.weight"].eq(before).all().item<bool>());
    }

    [Fact]
    public void A_misshaped_tensor_is_named_with_both_shapes()
    {
        using var model = new SmallConvNet(classifierInputs: 32);
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Load(Reference("small_conv.pt"), model));
        Assert.Contains("does not fit the model: shapes differ: classifier.weight is [10,16] in the file but [10,32] in the model.", error.Message);
    }

    [Fact]
    public void Another_architecture_lists_a_few_names_of_each_kind_and_counts_the_rest()
    {
        using var model = new FashionCnn();
        using var scope = NewDisposeScope();   // the file's tensors
        var mismatch = PyTorchWeights.Mismatch(PyTorchWeights.Read(Reference("small_conv.pt")), model.state_dict());
        // FashionCnn has 22 tensors besides its 3 counters; the file's 16 names are all foreign to it.
        Assert.Equal("missing from the file: conv1.weight (model [32,1,3,3]), conv1.bias (model [32]), conv2.weight (model [64,32,3,3]), " +
                     "conv2.bias (model [64]), conv3.weight (model [128,64,3,3]), conv3.bias (model [128]) and 16 more; " +
                     "not in the model: classifier.bias (file [10]), classifier.weight (file [10,16]), features.0.bias (file [8]), " +
                     "features.0.weight (file [8,3,3,3]), features.1.bias (file [8]), features.1.num_batches_tracked (file []) and 10 more",
            mismatch);
    }

    [Fact]
    public void A_truncated_file_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "truncated.pt");
        var bytes = File.ReadAllBytes(Reference("small_conv.pt"));
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(path));
        Assert.StartsWith($"'{path}' is not a state_dict written by torch.save, or it is damaged or truncated (", error.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_zip_is_one_error_naming_it()
    {
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "weights.pt");
        File.WriteAllText(path, "not a PyTorch file");
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(path));
        Assert.StartsWith($"PyTorch state_dict '{path}' cannot be loaded: ", error.Message);
        Assert.Contains("old PyTorch format", error.Message);
    }

    [Fact]
    public void PyTorchs_legacy_format_is_refused_with_the_fix()
    {
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(Reference("legacy_format.pt")));
        Assert.Contains($"PyTorch state_dict '{Reference("legacy_format.pt")}' cannot be loaded: ", error.Message);
        Assert.Contains("re-save using the new PyTorch format", error.Message);
    }

    [Fact]
    public void A_whole_pickled_model_is_refused_with_the_fix()
    {
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(Reference("whole_model.pt")));
        Assert.Contains($"PyTorch state_dict '{Reference("whole_model.pt")}' cannot be loaded: ", error.Message);
        Assert.Contains("torch.save(model.state_dict(), ...)", error.Message);
    }

    [Fact]
    public void A_saved_bare_tensor_is_not_a_state_dict()
    {
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(Reference("not_a_state_dict.pt")));
        Assert.Equal($"PyTorch state_dict '{Reference("not_a_state_dict.pt")}' holds a single object that is not a dictionary (a bare tensor?); " +
                     "save the model's weights with torch.save(model.state_dict(), file).", error.Message);
    }

    [Fact]
    public void A_checkpoint_dictionary_names_its_entries()
    {
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read(Reference("checkpoint_dict.pt")));
        Assert.Contains("is a dictionary with entries that are not tensors: epoch (Int32), model (", error.Message);
        Assert.Contains("torch.save(model.state_dict(), file)", error.Message);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var error = Assert.Throws<InvalidDataException>(() => PyTorchWeights.Read("/nonexistent/weights.pt"));
        Assert.Equal("PyTorch state_dict '/nonexistent/weights.pt' does not exist.", error.Message);
    }
}
