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

    [Theory]
    [InlineData(new[] { "flops", "--Model:Name=resnt18" }, "Unknown model 'resnt18' (Model:Name). Closest: resnet18")]
    [InlineData(new[] { "flops", "--Model:InputShape=1,3,28,28" }, "layer 'conv1' (Conv2d) failed on input [1,3,28,28]")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:Layers=conv9" }, "Unknown layer 'conv9'. Closest prunable layers: conv1, conv2, conv3")]
    [InlineData(new[] { "sensitivity", "--Model:Name=resnet18" }, "needs a model taking [N,1,28,28] images")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:Sparsities=0.5,2" }, "Analyze:Sensitivity:Sparsities = '0.5,2' is invalid")]
    [InlineData(new[] { "sensitivity", "--Analyze:Sensitivity:ShardIndex=2", "--Analyze:Sensitivity:ShardCount=2" }, "ShardIndex/ShardCount = 2/2 is invalid")]
    [InlineData(new[] { "graphs" }, "trainer analyze needs a sub-command")]
    public void Bad_analyze_input_is_one_clear_error(string[] args, string expected)
    {
        var (code, err) = Analyze(args);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, err);
    }
}
