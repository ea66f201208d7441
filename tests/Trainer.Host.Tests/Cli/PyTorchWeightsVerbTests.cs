using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Host.Cli;
using TorchSharp;
using TorchSharp.PyBridge;

namespace Trainer.Host.Tests.Cli;

/// <summary>
/// Model:PyTorchWeights through the CLI: compress and train take the weights, bad settings and files are one error. The files are
/// written with TorchSharp.PyBridge's save_py, PyTorch's torch.save format; that PyTorch's own files load and compute what PyTorch
/// computes is proven by the Core tests' fixture of python3-torch.
/// </summary>
public class PyTorchWeightsVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Work(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    private static readonly string[] Rounding =
        ["--Compression:Plugins:0=CustomCompressor", "--Compression:Compressor=weight-rounding", "--Compression:FinetuneEpochs=0"];

    [Fact]
    public void Compress_takes_PyTorch_weights_as_the_trained_model()
    {
        var (code, _, err) = _cli.Cli("train");
        Assert.True(code == 0, err);
        var checkpoint = Work("ckpt", "r", "best.ckpt");
        var weights = Work("fashion.pt");
        using (var trained = new FashionCnn())
        {
            CheckpointFile.LoadWeights(checkpoint, trained);
            trained.save_py(weights);
        }

        (code, _, err) = _cli.Cli("compress", [.. Rounding, $"--Model:PyTorchWeights={weights}", "--Trainer:RunName=from-pt"]);
        Assert.True(code == 0, err);
        (code, _, err) = _cli.Cli("compress", [.. Rounding, $"--Model:Checkpoint={checkpoint}", "--Trainer:RunName=from-ckpt"]);
        Assert.True(code == 0, err);
        var fromPyTorch = CompressionManifest.Load(Work("ckpt", "from-pt", "compress", "manifest.json"));
        var fromCheckpoint = CompressionManifest.Load(Work("ckpt", "from-ckpt", "compress", "manifest.json"));
        Assert.InRange(fromPyTorch.Original.Score, 0.3, 1.0);   // the trained weights: a fresh fashion-cnn scores about 0.1 here
        Assert.Equal(fromCheckpoint.Original.Score, fromPyTorch.Original.Score);
        Assert.Equal(fromCheckpoint.Current.Score, fromPyTorch.Current.Score);
    }

    [Fact]
    public void Train_starts_from_PyTorch_weights()
    {
        var weights = Work("start.pt");
        Directory.CreateDirectory(_cli.Work);
        torch.manual_seed(12345);   // not the job's seed: a fresh model of the job differs from this one
        using var start = new FashionCnn();
        start.save_py(weights);

        // A learning rate of 0 leaves the weights where they started, so the checkpoint shows that start.
        var (code, _, err) = _cli.Cli("train", $"--Model:PyTorchWeights={weights}", "--Trainer:LearningRate=0", "--Trainer:MaxSteps=2");
        Assert.True(code == 0, err);
        using var trained = new FashionCnn();
        CheckpointFile.LoadWeights(Work("ckpt", "r", "best.ckpt"), trained);
        var expected = start.state_dict();
        foreach (var name in new[] { "conv1.weight", "conv3.bias", "bn2.weight", "fc2.weight" })
            Assert.True(trained.state_dict()[name].equal(expected[name]).all().item<bool>(), name);
    }

    [Fact]
    public void PyTorch_weights_with_a_checkpoint_or_a_manifest_is_refused_naming_both_keys()
    {
        var weights = Work("w.pt");
        Directory.CreateDirectory(_cli.Work);
        using (var model = new FashionCnn()) model.save_py(weights);

        var (code, _, err) = _cli.Cli("compress", [.. Rounding, $"--Model:PyTorchWeights={weights}", $"--Model:Checkpoint={weights}"]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Model:PyTorchWeights and Model:Checkpoint are both set; each brings the model's weights, so set only one.", err);
        (code, _, err) = _cli.Cli("compress", [.. Rounding, $"--Model:PyTorchWeights={weights}", $"--Model:Manifest={weights}"]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Model:PyTorchWeights and Model:Manifest are both set", err);
    }

    [Fact]
    public void A_missing_file_is_refused_before_any_work()
    {
        var missing = Work("nowhere.pt");
        var (code, _, err) = _cli.Cli("train", $"--Model:PyTorchWeights={missing}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains($"Model:PyTorchWeights = '{missing}' is not a file; accepted: a state_dict saved by torch.save", err);
        Assert.False(Directory.Exists(Work("ckpt")));
    }

    [Fact]
    public void A_state_dict_of_another_shape_names_the_tensors_and_writes_nothing()
    {
        var weights = Work("five-classes.pt");
        Directory.CreateDirectory(_cli.Work);
        using (var model = new FashionCnn(classes: 5)) model.save_py(weights);

        var (code, _, err) = _cli.Cli("compress", [.. Rounding, $"--Model:PyTorchWeights={weights}"]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains($"PyTorch state_dict '{weights}' does not fit the model: shapes differ: fc2.weight is [5,256] in the file but " +
                        "[10,256] in the model, fc2.bias is [5] in the file but [10] in the model.", err);
        Assert.Contains("(Model:PyTorchWeights)", err);
        Assert.False(Directory.Exists(Work("ckpt", "r", "compress")));
    }
}
