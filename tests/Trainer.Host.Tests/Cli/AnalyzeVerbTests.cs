using System.Text.Json;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

public class AnalyzeVerbTests : IDisposable
{
    private readonly SyntheticFashionMnist _data = new(train: 64, test: 64);
    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainer-analyze-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    private (int Code, string Err) Analyze(params string[] args)
    {
        var error = new StringWriter();
        var code = TrainerCli.Run(["analyze", .. args, $"--Analyze:OutputDir={_work}/reports", $"--Data:Path={_data.Directory}"],
            new StringWriter(), error);
        return (code, error.ToString());
    }

    [Fact]
    public void Flops_writes_NNI_totals_as_json_and_a_per_layer_csv()
    {
        var json = Path.Combine(_work, "flops.json");
        var (code, err) = Analyze("flops", "--json", json);
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(30_735_360, root.GetProperty("total_flops").GetInt64());
        Assert.Equal(1_701_130, root.GetProperty("total_params").GetInt64());
        var csv = File.ReadAllLines(Path.Combine(_work, "reports", "fashion-cnn-flops.csv"));
        Assert.Equal("name,type,input_shape,output_shape,flops,params", csv[0]);
        Assert.Equal("conv1,Conv2d,1x1x28x28,1x32x28x28,225792,320", csv[1]);

        Assert.Equal(0, Analyze("flops", "--Analyze:CountMode=full", "--json", json).Code);
        Assert.Equal(31_036_682, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());

        // Masked: conv2 keeps 32 of 64 filters, so conv2 and conv3 (its consumer) count half.
        var masks = Path.Combine(_work, "masks.json");
        Trainer.Core.Graph.MaskFile.Save(masks, new Dictionary<string, bool[]> { ["conv2"] = Enumerable.Range(0, 64).Select(i => i % 2 == 0).ToArray() });
        Assert.Equal(0, Analyze("flops", $"--Analyze:Masks={masks}", "--json", json).Code);
        Assert.Equal(30_735_360 - 14_450_688, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());
    }

    [Fact]
    public void Sensitivity_shards_merge_into_one_csv_with_every_layer()
    {
        string[] common = ["--Analyze:Sensitivity:Sparsities=0.5", "--Analyze:Sensitivity:ValidationSamples=32", "--Analyze:Sensitivity:ShardCount=2"];
        Assert.Equal(0, Analyze(["sensitivity", .. common, "--Analyze:Sensitivity:ShardIndex=0"]).Code);
        Assert.Equal(0, Analyze(["sensitivity", .. common, "--Analyze:Sensitivity:ShardIndex=1"]).Code);
        var shard0 = Path.Combine(_work, "reports", "fashion-cnn-sensitivity-shard0-of-2.csv");
        var shard1 = Path.Combine(_work, "reports", "fashion-cnn-sensitivity-shard1-of-2.csv");
        Assert.Equal(["conv1", "conv3"], File.ReadAllLines(shard0).Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(["conv2"], File.ReadAllLines(shard1).Skip(1).Select(l => l.Split(',')[0]));

        var merged = Path.Combine(_work, "merged.csv");
        var (code, err) = Analyze("sensitivity", $"--Analyze:Sensitivity:MergeFiles={shard0},{shard1}", $"--Analyze:Sensitivity:MergeOutput={merged}");
        Assert.True(code == 0, err);
        var lines = File.ReadAllLines(merged);
        Assert.Equal("layername,0.5", lines[0]);
        Assert.Equal(["conv1", "conv2", "conv3"], lines.Skip(1).Select(l => l.Split(',')[0]));
        Assert.True(new FileInfo(Path.ChangeExtension(merged, ".png")).Length > 1000);
    }

    [Fact]
    public void Sensitivity_on_a_local_pool_of_two_workers_gives_the_in_process_figures_exactly()
    {
        var error = new StringWriter();
        var trained = TrainerCli.Run(["train", $"--Data:Path={_data.Directory}", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt",
            "--Trainer:RunName=base", "--Trainer:Epochs=1", "--Trainer:BatchSize=32"], new StringWriter(), error);
        Assert.True(trained == 0, error.ToString());
        string[] common = ["sensitivity", $"--Model:Checkpoint={_work}/ckpt/base/best.ckpt", "--Analyze:Sensitivity:Sparsities=0.25,0.5,0.75",
            "--Analyze:Sensitivity:ValidationSamples=48", "--Trainer:Threads=1"];
        var inProcess = Path.Combine(_work, "in-process.json");
        var pool = Path.Combine(_work, "pool.json");
        var (code, err) = Analyze([.. common, "--json", inProcess]);
        Assert.True(code == 0, err);
        (code, err) = Analyze([.. common, "--Search:Runner=local", "--Search:Workers=2", "--Search:ThreadsPerWorker=1", "--json", pool]);
        Assert.True(code == 0, err);

        // The same baseline and metrics, to the bit (the JSON writes doubles round-trip).
        var figures = JsonDocument.Parse(File.ReadAllText(inProcess)).RootElement;
        Assert.Equal(["conv1", "conv2", "conv3"], figures.GetProperty("layers").EnumerateObject().Select(l => l.Name));
        Assert.Equal(File.ReadAllText(inProcess), File.ReadAllText(pool));
        // One shard per layer, run by two worker processes, not this one.
        var workers = Directory.GetFiles(Path.Combine(_work, "reports", "fashion-cnn-sensitivity-trials"), "shard-*.result.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString()!).ToList();
        Assert.Equal(3, workers.Count);
        Assert.Equal(2, workers.Distinct().Count());
        Assert.DoesNotContain($"{Environment.MachineName}:{Environment.ProcessId}", workers);
    }

    [Fact]
    public void Deps_on_resnet18_gives_NNIs_13_sets_as_csv_and_json()
    {
        var json = Path.Combine(_work, "deps.json");
        var (code, err) = Analyze("deps", "--Model:Name=resnet18", "--json", json);
        Assert.True(code == 0, err);
        var sets = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("channel_sets")
            .EnumerateArray().Select(s => string.Join(" ", s.EnumerateArray().Select(e => e.GetString()))).ToList();
        Assert.Equal(13, sets.Count);
        Assert.Contains("layer2.0.conv2 layer2.0.downsample.0 layer2.1.conv2", sets);
        var csv = File.ReadAllLines(Path.Combine(_work, "reports", "resnet18-channel-dependency.csv"));
        Assert.Equal("Dependency Set,Layers", csv[0]);
        Assert.Equal("Set 1,conv1,layer1.0.conv2,layer1.1.conv2", csv[1]);
    }

    [Fact]
    public void Graph_writes_dot_and_json_with_the_flatten_block_mapping()
    {
        var json = Path.Combine(_work, "graph.json");
        Assert.Equal(0, Analyze("graph", "--json", json).Code);
        var edges = JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("edges").EnumerateArray()
            .Select(e => $"{e.GetProperty("producer").GetString()}->{e.GetProperty("target").GetString()}:{e.GetProperty("mapping").GetString()}")
            .ToList();
        Assert.Contains("conv3->fc1:block(49)", edges);
        Assert.Contains("conv1->conv2:identity", edges);
        Assert.Contains("conv3 -> fc1", File.ReadAllText(Path.Combine(_work, "reports", "fashion-cnn-graph.dot")).Replace("\"", ""));
    }

    [Theory]
    [InlineData("union", 48)]         // [0,32) | [16,48) | [8,40) = [0,48)
    [InlineData("intersection", 16)]  // [0,32) & [16,48) & [8,40) = [16,32)
    public void Masks_of_coupled_layers_are_made_to_agree(string mode, int kept)
    {
        static bool[] Keep(int from, int to) => Enumerable.Range(0, 64).Select(i => i >= from && i < to).ToArray();
        var masks = Path.Combine(_work, "masks.json");
        Trainer.Core.Graph.MaskFile.Save(masks, new Dictionary<string, bool[]>
        {
            ["conv1"] = Keep(0, 32), ["layer1.0.conv2"] = Keep(16, 48), ["layer1.1.conv2"] = Keep(8, 40), ["layer1.0.conv1"] = Keep(0, 10),
        });
        var (code, err) = Analyze("masks", "--Model:Name=resnet18", $"--Analyze:Masks={masks}", $"--Analyze:MaskConflictMode={mode}");
        Assert.True(code == 0, err);
        var fixedMasks = Trainer.Core.Graph.MaskFile.Load(Path.Combine(_work, "reports", "resnet18-masks-fixed.json"));
        var expected = mode == "union" ? Keep(0, 48) : Keep(16, 32);
        Assert.Equal(kept, expected.Count(k => k));
        foreach (var layer in new[] { "conv1", "layer1.0.conv2", "layer1.1.conv2" }) Assert.Equal(expected, fixedMasks[layer]);
        Assert.Equal(Keep(0, 10), fixedMasks["layer1.0.conv1"]); // not coupled: unchanged
    }

    [Theory]
    [InlineData(new[] { "masks" }, "analyze masks needs a masks file")]
    [InlineData(new[] { "masks", "--Analyze:MaskConflictMode=xor" }, "Analyze:MaskConflictMode = 'xor' is invalid")]
    [InlineData(new[] { "flops", "--Model:Name=resnt18" }, "Unknown model 'resnt18' (Model:Name). Closest: resnet18")]
    [InlineData(new[] { "flops", "--Model:InputShape=1,3,28,28" }, "layer 'conv1' (Conv2d) failed on input [1,3,28,28]; it takes [N,1,*,*]")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:Layers=conv9" }, "Unknown layer 'conv9'. Closest prunable layers: conv1, conv2, conv3")]
    [InlineData(new[] { "sensitivity", "--Model:Name=resnet18" }, "gives inputs of shape [N,1,28,28], but 'resnet18' is set up for [1,3,224,224]")]
    [InlineData(new[] { "sensitivity", "--Model:Name=resnet18", "--Model:InputShape=1,1,28,28" },
        "'resnet18' does not take the task 'fashion-mnist''s example input [1,1,28,28]: layer 'conv1' (Conv2d) failed on input [1,1,28,28]; it takes [N,3,*,*]")]
    [InlineData(new[] { "flops", "--Model:Name=", "--Task:Name=cifar" }, "Task:Name = 'cifar' is not a built-in task")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:Sparsities=0.5,2" }, "Analyze:Sensitivity:Sparsities = '0.5,2' is invalid")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:ShardIndex=2", "--Analyze:Sensitivity:ShardCount=2" }, "ShardIndex/ShardCount = 2/2 is invalid")]
    [InlineData(new[] { "graphs" }, "trainer analyze needs a sub-command")]
    public void Bad_analyze_input_is_one_clear_error(string[] args, string expected)
    {
        var (code, err) = Analyze(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
    }

    [Fact]
    public void An_unknown_sensitivity_pruner_exits_2_naming_the_key_and_the_accepted_pruners()
    {
        var (code, err) = Analyze(["sensitivity", "--Analyze:Sensitivity:Pruner=taylor"]);
        Assert.Equal(2, code);
        Assert.Contains("Analyze:Sensitivity:Pruner = 'taylor' is invalid; accepted: l1, l2, fpgm, level.", err);
    }
}
