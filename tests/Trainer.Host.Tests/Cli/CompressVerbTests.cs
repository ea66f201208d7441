using System.Reflection;
using System.Text.Json;
using Trainer.Core.Compression;
using Trainer.Core.Tests.TensorBoard;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer run` / `trainer compress`: the compress → finetune loop, its manifest, report, resume and errors.
/// The example plugin (weight-rounding) keeps the structure, so these tests prove the loop's plumbing; the pruning
/// tests prove the structural path.</summary>
public class CompressVerbTests : IDisposable
{
    internal static readonly string PluginsBin = typeof(CompressVerbTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "PluginsBin").Value!;

    private readonly SyntheticFashionMnist _data = new();
    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainer-compress-" + Guid.NewGuid().ToString("N"));

    /// <summary>The folder every run of this instance writes under.</summary>
    internal string Work => _work;

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    internal (int Code, string Out, string Err) Cli(string verb, params string[] extra)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = TrainerCli.Run(Args(verb, extra), output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The command line <see cref="Cli"/> runs (also for a `trainer` child process on this instance's data and folders).</summary>
    internal string[] Args(string verb, params string[] extra) =>
    [
        .. verb.Split(' '), $"--Data:Path={_data.Directory}", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt",
        "--Trainer:RunName=r", "--Trainer:BatchSize=32", "--Trainer:EvalBatchSize=64", "--Trainer:LearningRate=0.05",
        "--Trainer:Epochs=1", $"--Compression:PluginsDir={PluginsBin}", .. extra,
    ];

    private (int Code, string Out, string Err) RunRounding(params string[] extra) => Cli("run",
        ["--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Compression:Plugins:0=CustomCompressor",
         "--Compression:Compressor=weight-rounding", "--Compression:Settings:Decimals=3", .. extra]);

    private string StageDir(string root) => Path.Combine(_work, root, "r", "compress");

    [Fact]
    public void Run_trains_then_iterates_compress_and_finetune_writing_manifest_report_and_tensorboard()
    {
        var (code, _, err) = RunRounding("--Compression:Iterations=2");
        Assert.True(code == 0, err);

        var manifest = CompressionManifest.Load(Path.Combine(StageDir("ckpt"), "manifest.json"));
        Assert.Equal("fashion-cnn", manifest.Model.Name);
        Assert.Equal([1, 2], manifest.Iterations.Select(i => i.Index));
        Assert.All(manifest.Iterations, i => Assert.Equal("weight-rounding", i.Compressor));
        Assert.Equal(0.5, manifest.Iterations[1].TargetMacsRatio, 12);
        Assert.Equal(Math.Sqrt(0.5), manifest.Iterations[0].TargetMacsRatio, 12);
        Assert.Equal(30_735_360, manifest.Original.Macs);               // rounding keeps the structure
        Assert.Equal(manifest.Original.Macs, manifest.Current.Macs);
        Assert.Equal(1_701_578, manifest.Current.Params);
        Assert.InRange(manifest.Current.Score, 0.3, 1.0);             // the synthetic set is learnable
        Assert.Equal(32, manifest.Current.LatencyMs > 0 ? manifest.Iterations[1].Channels["conv1"] : -1);
        Assert.Equal("iteration-2.weights", manifest.Weights);
        Assert.True(File.Exists(Path.Combine(StageDir("ckpt"), "iteration-2.weights")));
        Assert.True(File.Exists(Path.Combine(StageDir("ckpt"), "iteration-1", "last.ckpt")));   // finetuning checkpoints
        Assert.True(new FileInfo(Path.Combine(StageDir("runs"), "score-vs-macs.png")).Length > 1000);

        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(StageDir("runs"), "summary.json"))).RootElement;
        Assert.Equal(2, summary.GetProperty("iterations").GetInt32());
        Assert.Equal(1.0, summary.GetProperty("macs_ratio").GetDouble(), 12);
        Assert.Contains("all 2 iteration(s) ran", summary.GetProperty("stop_reason").GetString());

        var events = TfEventReader.ReadDirectory(StageDir("runs"));
        long[] StepsOf(string tag) => events.Where(e => e.Values.Any(v => v.Tag == tag)).Select(e => e.Step).Order().ToArray();
        Assert.Equal([0, 1, 2], StepsOf("compress/macs"));
        Assert.Equal([0, 1, 2], StepsOf("compress/score_after_finetune"));
        Assert.Equal([1, 2], StepsOf("channels/fc1"));
        Assert.NotEmpty(TfEventReader.ReadDirectory(Path.Combine(StageDir("runs"), "iteration-1")));  // finetuning curves
    }

    [Fact]
    public void Distill_finetunes_from_the_uncompressed_model()
    {
        var (code, _, err) = RunRounding("--Compression:Distill=true", "--Compression:DistillTemperature=2", "--Trainer:LogEveryNSteps=2");
        Assert.True(code == 0, err);
        var events = TfEventReader.ReadDirectory(Path.Combine(StageDir("runs"), "iteration-1"));
        var tags = events.SelectMany(e => e.Values.Select(v => v.Tag)).ToHashSet();
        Assert.Contains("train/soft_loss", tags);      // the teacher's term of DistillerTrainer
        Assert.Contains("train/hard_loss", tags);
    }

    [Fact]
    public void Compress_resumes_after_the_last_finished_iteration_and_refuses_to_overwrite_without_resume()
    {
        var (code, _, err) = RunRounding("--Compression:Iterations=1");
        Assert.True(code == 0, err);
        var manifestPath = Path.Combine(StageDir("ckpt"), "manifest.json");
        var first = CompressionManifest.Load(manifestPath);
        var checkpoint = Path.Combine(_work, "ckpt", "r", "best.ckpt");
        string[] compress = ["--Compression:Plugins:0=CustomCompressor", "--Compression:Compressor=weight-rounding", $"--Model:Checkpoint={checkpoint}"];

        (code, _, err) = Cli("compress", [.. compress, "--Compression:Iterations=2"]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("--resume", err);
        Assert.Equal(File.ReadAllText(manifestPath), JsonSerializer.Serialize(JsonDocument.Parse(File.ReadAllText(manifestPath)),
            new JsonSerializerOptions { WriteIndented = true }));   // untouched, still valid

        (code, _, err) = Cli("compress", [.. compress, "--Compression:Iterations=2", "--resume"]);
        Assert.True(code == 0, err);
        var resumed = CompressionManifest.Load(manifestPath);
        Assert.Equal([1, 2], resumed.Iterations.Select(i => i.Index));
        Assert.Equal(first.Iterations[0].AfterFinetune, resumed.Iterations[0].AfterFinetune);   // iteration 1 was not redone
        Assert.Equal(first.Original, resumed.Original);
    }

    [Fact]
    public void Compress_errors_name_the_key_before_any_work()
    {
        var (code, _, err) = Cli("compress", "--Compression:Plugins:0=CustomCompressor", "--Compression:Compressor=weight-rounding");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Model:Checkpoint", err);

        (code, _, err) = Cli("compress", "--Compression:Plugins:0=CustomCompressor", "--Compression:Compressor=channel-prune");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Compression:Compressor = 'channel-prune'", err);
        Assert.Contains("weight-rounding", err);

        (code, _, err) = Cli("compress", "--Compression:TargetFlopsRatio=1.5", "--Compression:Allocation=fastest");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Compression:TargetFlopsRatio = 1.5", err);
        Assert.Contains("Compression:Allocation = 'fastest'", err);

        (code, _, err) = Cli("compress", "--Compression:MeasuredCandidates=0", "--Compression:TargetLatencyRatio=0.5", "--Compression:RefineSteps=-1",
            "--Compression:LatencyForm=exported");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Compression:MeasuredCandidates = 0", err);
        Assert.Contains("Compression:RefineSteps = -1", err);
        Assert.Contains("Compression:LatencyForm = 'exported'", err);
        Assert.Contains("accepted: trained, inference, onnx", err);
        Assert.Contains("Compression:TargetLatencyRatio = 0.5 needs Compression:Allocation = latency", err);

        (code, _, err) = Cli("run", "--Pipeline:Stages:0=compress", "--Pipeline:Stages:1=train");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("out of order", err);
        Assert.False(Directory.Exists(Path.Combine(_work, "ckpt")));
    }

    [Fact]
    public void A_manifest_of_another_model_is_refused_by_name()
    {
        var (code, _, err) = RunRounding();
        Assert.True(code == 0, err);
        var manifest = Path.Combine(StageDir("ckpt"), "manifest.json");

        var json = Path.Combine(_work, "flops.json");
        (code, _, err) = Cli("analyze flops", $"--Model:Manifest={manifest}", "--json", json);
        Assert.True(code == 0, err);
        Assert.Equal(30_735_360, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());

        (code, _, err) = Cli("analyze flops", $"--Model:Manifest={manifest}", "--Model:Name=resnet18");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("made for the model 'fashion-cnn'", err);
    }

    [Theory]
    [InlineData("trained")]
    [InlineData("inference")]
    [InlineData("onnx")]
    public void Latency_allocation_times_its_candidates_and_keeps_every_layer_above_the_floor(string form)
    {
        var cache = Path.Combine(_work, "latency");
        // In ONNX Runtime the widths are multiples of 16, the channel block of its NCHWc convolutions.
        int roundTo = form == "onnx" ? 16 : 8;
        var (code, _, err) = Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1",
            "--Compression:Allocation=latency", $"--Compression:LatencyCacheDir={cache}", "--Compression:MeasuredCandidates=4",
            "--Compression:RefineSteps=2", $"--Compression:LatencyForm={form}", "--Compression:FinetuneEpochs=0", $"--Compression:RoundTo={roundTo}");
        Assert.True(code == 0, err);

        var manifest = CompressionManifest.Load(Path.Combine(StageDir("ckpt"), "manifest.json"));
        var original = manifest.Iterations.Single().Channels;
        double ratio = (double)manifest.Current.Macs / manifest.Original.Macs;
        Assert.InRange(ratio, 0.4, 0.5);
        // conv1 32 → at least 16, conv2 64 → at least 32, fc1 → at least half: the floor holds for every group.
        using var model = Trainer.Core.Models.ModelCatalog.Get("fashion-cnn").Create();
        foreach (var (layer, kept) in original)
        {
            var full = model.named_modules().Single(m => m.name == layer).module switch
            {
                TorchSharp.Modules.Conv2d c => c.out_channels,
                TorchSharp.Modules.Linear l => l.out_features,
                _ => throw new InvalidOperationException(layer),
            };
            Assert.True(kept * 2 >= full, $"{layer} keeps {kept} of {full}");
            Assert.True(kept % roundTo == 0 || kept == full, $"{layer} keeps {kept}, not a multiple of {roundTo}");
        }
        var table = Assert.Single(Directory.GetFiles(cache, "*.json"));   // the table (of the form timed), cached for the next run
        Assert.Equal(form == "onnx", File.ReadAllText(table).Contains("\"onnxruntime 1.32", StringComparison.Ordinal));
    }

    [Fact]
    public void A_latency_budget_sizes_the_layers_and_the_speedup_is_measured_against_the_original()
    {
        var (code, _, err) = Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1",
            "--Compression:Allocation=latency", "--Compression:TargetLatencyRatio=0.7", $"--Compression:LatencyCacheDir={_work}/latency");
        Assert.True(code == 0, err);

        var manifest = CompressionManifest.Load(Path.Combine(StageDir("ckpt"), "manifest.json"));
        var iteration = manifest.Iterations.Single();
        Assert.Equal(0.7, iteration.TargetLatencyRatio);
        Assert.True(iteration.Speedup is > 0 and < 100, $"speedup {iteration.Speedup}");
        Assert.True(manifest.Current.Macs < manifest.Original.Macs);          // the budget made the allocation cut
        Assert.Equal((double)iteration.AfterCompress.Macs / manifest.Original.Macs, iteration.TargetMacsRatio, 12);

        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(StageDir("runs"), "summary.json"))).RootElement;
        Assert.Equal(iteration.Speedup!.Value, summary.GetProperty("latency_speedup").GetDouble(), 12);
        var reason = summary.GetProperty("stop_reason").GetString()!;
        Assert.True(iteration.Speedup >= 1 / 0.7 ? reason.Contains("latency target was met") : reason.Contains("all 1 iteration(s) ran"), reason);
    }

    [Fact]
    public void A_latency_budget_beyond_the_floor_cuts_every_layer_to_its_floor_and_keeps_going()
    {
        var (code, _, err) = Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1",
            "--Compression:Allocation=latency", "--Compression:TargetLatencyRatio=0.05", "--Compression:Iterations=2",
            "--Compression:FinetuneEpochs=0", $"--Compression:LatencyCacheDir={_work}/latency");
        Assert.True(code == 0, err);

        var manifest = CompressionManifest.Load(Path.Combine(StageDir("ckpt"), "manifest.json"));
        Assert.Equal(2, manifest.Iterations.Count);
        // Both rounds aimed at the fastest their floor allows (sqrt(0.5) of the widths each starts from); which widths
        // the table finds that fast depends on this machine's timings, the floor does not.
        var widths = new[] { new Dictionary<string, int> { ["conv1"] = 32, ["conv2"] = 64, ["conv3"] = 128, ["fc1"] = 256, ["fc2"] = 10 } }
            .Concat(manifest.Iterations.Select(i => i.Channels.ToDictionary())).ToList();
        for (int round = 1; round <= 2; round++)
            Assert.All(widths[round], w => Assert.True(w.Value >= Math.Sqrt(0.5) * widths[round - 1][w.Key] - 1e-9, $"round {round}: {w.Key} {w.Value}"));
        Assert.All(manifest.Iterations, i => Assert.True(i.Speedup > 0));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(StageDir("runs"), "summary.json"))).RootElement;
        Assert.Contains("all 2 iteration(s) ran", summary.GetProperty("stop_reason").GetString());
    }

    [Theory]
    [InlineData("channel-pruning", "method=l1")]
    [InlineData("channel-pruning", "method=lasso")]
    [InlineData("low-rank", "nonlinear_case=false")]
    public void Structured_compressors_halve_the_macs_and_the_manifest_reloads_the_same_model(string compressor, string setting)
    {
        var (key, value) = (setting.Split('=')[0], setting.Split('=')[1]);
        var (code, _, err) = Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=LowRank", $"--Compression:Compressor={compressor}",
            $"--Compression:Settings:{key}={value}", "--Compression:FinetuneEpochs=1", "--Compression:Allocation=compressor");
        Assert.True(code == 0, err);
        var manifestPath = Path.Combine(StageDir("ckpt"), "manifest.json");
        var manifest = CompressionManifest.Load(manifestPath);
        var compressed = manifest.Iterations.Single();
        Assert.NotEmpty(compressed.Edits);
        // Channel pruning counts all MACs; low-rank aims at the conv MACs, which are 95% of the Fashion CNN's.
        Assert.InRange((double)compressed.AfterFinetune.Macs / manifest.Original.Macs, 0.3, compressor == "low-rank" ? 0.55 : 0.5);
        Assert.True(compressed.AfterFinetune.Params < manifest.Original.Params);

        // Reload in a new job: the architecture is rebuilt from the manifest and the accuracy is the one recorded.
        var json = Path.Combine(_work, "reloaded.json");
        (code, _, err) = Cli("analyze flops", $"--Model:Manifest={manifestPath}", "--json", json);
        Assert.True(code == 0, err);
        Assert.Equal(compressed.AfterFinetune.Macs, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());
    }
}
