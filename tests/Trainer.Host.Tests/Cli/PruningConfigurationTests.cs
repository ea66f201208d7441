using Trainer.Core.Checkpoints;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Host.Cli;
using TorchSharp;

namespace Trainer.Host.Tests.Cli;

/// <summary>Trainer:Pruning: refused at start-up when wrong, and a short configured run ends at the target sparsity.</summary>
public sealed class PruningConfigurationTests : IDisposable
{
    private readonly SyntheticFashionMnist _data = new();
    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainer-pruning-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    /// <summary>256 synthetic samples in batches of 32: 8 steps per epoch.</summary>
    private (int Code, string Err) Train(string runName, params string[] extra)
    {
        var error = new StringWriter();
        string[] args =
        [
            "train", $"--Data:Path={_data.Directory}", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt",
            $"--Trainer:RunName={runName}", "--Trainer:BatchSize=32", "--Trainer:EvalBatchSize=64", "--Trainer:LearningRate=0.05",
            "--Trainer:WeightHistograms=false", .. extra,
        ];
        return (TrainerCli.Run(args, new StringWriter(), error), error.ToString());
    }

    private static readonly string[] Agp =
    [
        "--Trainer:Pruning:Kind=agp", "--Trainer:Pruning:FinalSparsity=0.9", "--Trainer:Pruning:Unit=step",
        "--Trainer:Pruning:Start=0", "--Trainer:Pruning:End=10", "--Trainer:Pruning:Frequency=2",
    ];

    [Theory]
    [InlineData("--Trainer:Pruning:Kind=magic", "Trainer:Pruning:Kind = 'magic' is invalid; accepted: none, agp, linear, lottery-ticket.")]
    [InlineData("--Trainer:Pruning:FinalSparsity=1", "Trainer:Pruning:FinalSparsity = 1 is invalid; accepted: a fraction of the entries in [0, 1)")]
    [InlineData("--Trainer:Pruning:FinalSparsity=-0.1", "Trainer:Pruning:FinalSparsity = -0.1 is invalid")]
    [InlineData("--Trainer:Pruning:Unit=batch", "Trainer:Pruning:Unit = 'batch' is invalid; accepted: epoch, step.")]
    [InlineData("--Trainer:Pruning:Pruner=magic", "Trainer:Pruning:Pruner = 'magic' is invalid; accepted: level, l1-norm, l2-norm, fpgm, slim, apoz, mean-activation, taylor-fo.")]
    [InlineData("--Trainer:Pruning:TrainingSteps=0", "Trainer:Pruning:TrainingSteps = 0 is invalid; accepted: 1 or more")]
    [InlineData("--Trainer:Pruning:SlimLambda=-0.5", "Trainer:Pruning:SlimLambda = -0.5 is invalid; accepted: a finite λ ≥ 0")]
    [InlineData("--Trainer:Pruning:Activation=tanh", "Trainer:Pruning:Activation = 'tanh' is invalid; accepted: relu, gelu, relu6.")]
    [InlineData("--Trainer:Pruning:Sparsity=0.9", "unknown configuration key(s) 'Sparsity' in section Trainer:Pruning")]
    [InlineData("--Trainer:Pruning:OpTypes:0=Conv1d", "Trainer:Pruning:OpTypes names 'Conv1d'; accepted: Conv2d, Linear.")]
    public void A_bad_pruning_key_stops_the_run_before_any_work_with_one_line_naming_it(string arg, string expected)
    {
        string[] args = arg.Contains("Kind=") || arg.Contains("Sparsity=0.9") ? [arg] : ["--Trainer:Pruning:Kind=agp", "--Trainer:Pruning:FinalSparsity=0.5", arg];
        var (code, err) = Train("bad", ["--Trainer:Epochs=2", .. args]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_work, "ckpt", "bad")));
    }

    [Theory]
    [InlineData("--Trainer:Pruning:End=2", "Trainer:Pruning:End = 2 is invalid with Unit epoch and Trainer:Epochs = 2")]
    [InlineData("--Trainer:Pruning:Global=true --Trainer:Pruning:Pruner=l2-norm", "Trainer:Pruning:Global = true needs Pruner = level")]
    [InlineData("--Trainer:Pruning:Kind=lottery-ticket --Trainer:Pruning:Rounds=2", "Trainer:Pruning:Rounds × EpochsPerRound = 2 leaves no epoch")]
    [InlineData("--Trainer:Pruning:OpNames:0=conv9", "Trainer:Pruning does not fit the model: 'conv9' is no module of the network")]
    [InlineData("--Trainer:Pruning:Pruner=taylor-fo --Trainer:Pruning:InitialSparsity=0.2",
        "Trainer:Pruning:Start = 0 with InitialSparsity = 0.2 is invalid with Pruner = taylor-fo")]
    public void Pruning_settings_that_contradict_each_other_or_the_model_are_refused(string args, string expected)
    {
        var (code, err) = Train("bad", ["--Trainer:Epochs=2", "--Trainer:Pruning:Kind=agp", "--Trainer:Pruning:FinalSparsity=0.5", .. args.Split(' ')]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(expected, err);
    }

    [Fact]
    public void A_configured_agp_run_ends_with_PyTorchs_count_of_zeros_in_every_layer_and_writes_a_sparse_export_that_reloads()
    {
        var (code, err) = Train("agp", ["--Trainer:Epochs=2", .. Agp]);
        Assert.True(code == 0, err);

        var export = Path.Combine(_work, "ckpt", "agp", "sparse.weights");
        Assert.True(SparseWeightsFile.IsSparseWeightsFile(export));
        using var scope = torch.NewDisposeScope();
        var model = new FashionCnn();
        CheckpointFile.LoadWeights(export, model);
        foreach (var (name, weight) in model.named_parameters().Where(p => p.name.EndsWith(".weight") && p.parameter.dim() >= 2))
        {
            // Per layer, PyTorch's round(0.9 · entries) half to even.
            var expected = (long)Math.Round(0.9 * weight.numel(), MidpointRounding.ToEven);
            Assert.Equal(expected, weight.eq(0).sum().item<long>());
        }
        // The best checkpoint may only be an epoch validated at the final sparsity (the schedule ends at step 10, in the
        // second epoch), so it is the last one here. It keeps the masks; loaded for another verb, its pruning is made
        // permanent: the same weights as the export.
        var fromCheckpoint = new FashionCnn();
        var permanent = PrunedWeights.Load(Path.Combine(_work, "ckpt", "agp", "best.ckpt"), fromCheckpoint, out var best);
        Assert.Equal(1, best.Epoch);
        Assert.Equal(5, permanent.Count);
        foreach (var (name, p) in model.named_parameters())
            Assert.Equal(p.data<float>().ToArray(), fromCheckpoint.get_parameter(name)!.data<float>().ToArray());
        // At 90 % the export is well under the dense bytes: (1 + 32 · 0.1) / 32 ≈ 0.13 of the pruned weights.
        Assert.True(new FileInfo(export).Length < 0.2 * 4 * model.parameters().Sum(p => p.numel()),
            $"sparse export of {new FileInfo(export).Length} bytes");
    }

    [Fact]
    public void A_channel_schedule_ends_in_a_shrunk_model_whose_manifest_reloads_with_half_the_filters()
    {
        var (code, err) = Train("l1", ["--Trainer:Epochs=2", "--Trainer:Pruning:Kind=linear", "--Trainer:Pruning:FinalSparsity=0.5",
            "--Trainer:Pruning:Pruner=l1-norm", "--Trainer:Pruning:End=1", "--Trainer:Pruning:OpTypes:0=Conv2d"]);
        Assert.True(code == 0, err);

        using var scope = torch.NewDisposeScope();
        var manifestPath = Path.Combine(_work, "ckpt", "l1", "shrunk", "manifest.json");
        var shrunk = Trainer.Core.Compression.CompressedModel.Load(manifestPath, () => new FashionCnn(), out var manifest);
        var widths = shrunk.named_modules().Where(m => m.module is TorchSharp.Modules.Conv2d)
            .Select(m => ((TorchSharp.Modules.Conv2d)m.module).weight!.shape[0]).ToArray();
        Assert.Equal(new long[] { 16, 32, 64 }, widths);     // round(0.5 · 32, 64, 128) filters left
        Assert.Equal("scheduled-pruning", manifest.Iterations.Single().Compressor);
        Assert.True(manifest.Current.Params < manifest.Original.Params / 2, $"{manifest.Current.Params} of {manifest.Original.Params} parameters");
        Assert.Equal(10, shrunk.call(torch.zeros(2, 1, 28, 28)).shape[1]);
    }

    [Fact]
    public void A_pruning_run_stopped_after_one_epoch_and_resumed_exports_the_same_bytes_as_the_unbroken_run()
    {
        Assert.Equal(0, Train("broken", ["--Trainer:Epochs=1", .. Agp]).Code);
        var (code, err) = Train("broken", ["--Trainer:Epochs=2", "--resume", .. Agp]);
        Assert.True(code == 0, err);
        Assert.Equal(0, Train("unbroken", ["--Trainer:Epochs=2", .. Agp]).Code);

        using var scope = torch.NewDisposeScope();
        var (resumed, unbroken) = (new FashionCnn(), new FashionCnn());
        CheckpointFile.LoadWeights(Path.Combine(_work, "ckpt", "broken", "sparse.weights"), resumed);
        CheckpointFile.LoadWeights(Path.Combine(_work, "ckpt", "unbroken", "sparse.weights"), unbroken);
        foreach (var (name, tensor) in unbroken.state_dict())
            Assert.True(tensor.bytes.SequenceEqual(resumed.state_dict()[name].bytes), $"'{name}' differs between the resumed and the unbroken run");
    }

    [Fact]
    public void A_taylor_fo_schedule_ends_with_the_scheduled_share_of_filters_pruned_and_a_shrunk_model()
    {
        // 8 steps an epoch; linear by steps to half the filters at steps 4 and 8, each ranked on the 3 steps before it.
        var (code, err) = Train("taylor", ["--Trainer:Epochs=2", "--Trainer:Pruning:Kind=linear", "--Trainer:Pruning:FinalSparsity=0.5",
            "--Trainer:Pruning:Pruner=taylor-fo", "--Trainer:Pruning:TrainingSteps=3", "--Trainer:Pruning:Unit=step",
            "--Trainer:Pruning:Start=4", "--Trainer:Pruning:End=8", "--Trainer:Pruning:Frequency=4", "--Trainer:Pruning:OpTypes:0=Conv2d"]);
        Assert.True(code == 0, err);

        using var scope = torch.NewDisposeScope();
        // The export holds the final weights: round(0.5 · filters) filters of each conv are zero whole.
        var model = new FashionCnn();
        CheckpointFile.LoadWeights(Path.Combine(_work, "ckpt", "taylor", "sparse.weights"), model);
        foreach (var conv in model.modules().OfType<TorchSharp.Modules.Conv2d>())
        {
            var filters = conv.weight!.shape[0];
            var zeroFilters = conv.weight.reshape(filters, -1).abs().sum(1).eq(0).sum().item<long>();
            Assert.Equal(filters / 2, zeroFilters);
        }
        var shrunk = Trainer.Core.Compression.CompressedModel.Load(Path.Combine(_work, "ckpt", "taylor", "shrunk", "manifest.json"),
            () => new FashionCnn(), out _);
        Assert.Equal(new long[] { 16, 32, 64 }, shrunk.modules().OfType<TorchSharp.Modules.Conv2d>().Select(c => c.weight!.shape[0]).ToArray());
    }

    [Fact]
    public void A_slim_lottery_ticket_trains_with_the_gamma_penalty_and_ends_with_half_the_filters_of_every_conv_pruned()
    {
        var (code, err) = Train("slim", ["--Trainer:Epochs=2", "--Trainer:Pruning:Kind=lottery-ticket", "--Trainer:Pruning:PruneFraction=0.5",
            "--Trainer:Pruning:Pruner=slim", "--Trainer:Pruning:SlimLambda=0.001", "--Trainer:Pruning:OpTypes:0=Conv2d"]);
        Assert.True(code == 0, err);

        // The loss hook ran: the run's summary has slim's term, λ·Σ|γ| of the three BatchNorms (γ starts at 1: 0.001 · 224).
        var summary = Directory.GetFiles(Path.Combine(_work, "runs"), "summary.json", SearchOption.AllDirectories).Single();
        var slimLoss = System.Text.Json.JsonDocument.Parse(File.ReadAllText(summary)).RootElement.GetProperty("metrics").GetProperty("train/slim_l1").GetDouble();
        Assert.InRange(slimLoss, 0.1, 0.3);
        using var scope = torch.NewDisposeScope();
        var model = new FashionCnn();
        CheckpointFile.LoadWeights(Path.Combine(_work, "ckpt", "slim", "sparse.weights"), model);
        foreach (var conv in model.modules().OfType<TorchSharp.Modules.Conv2d>())
        {
            var filters = conv.weight!.shape[0];
            Assert.Equal(filters / 2, conv.weight.reshape(filters, -1).abs().sum(1).eq(0).sum().item<long>());
        }
    }
}
