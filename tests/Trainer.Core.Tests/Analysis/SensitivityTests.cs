using Trainer.Core.Analysis.Sensitivity;
using Trainer.Core.Tests.TensorBoard;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

public class SensitivityTests
{
    private const string DefaultHeader = "layername,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9\r\n";

    /// <summary>Negative MSE between the model's output and the unpruned output on a fixed input.</summary>
    private static Func<nn.Module<Tensor, Tensor>, double> NegativeMse(TinyNet model)
    {
        var input = TinyNet.Input().DetachFromDisposeScope();
        Tensor reference;
        using (no_grad()) reference = model.call(input).DetachFromDisposeScope();
        return m =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return -(double)nn.functional.mse_loss(m.call(input), reference).item<float>();
        };
    }

    [Theory]
    [InlineData("conv1", 0.25, new[] { 1 })]
    [InlineData("conv1", 0.5, new[] { 1, 3 })]
    [InlineData("conv1", 0.7, new[] { 1, 3 })]      // int(4 * 0.7) = 2
    [InlineData("conv1", 0.75, new[] { 0, 1, 3 })]
    [InlineData("conv1", 0.2, new int[0])]          // int(0.8) = 0: nothing pruned
    [InlineData("conv2", 0.3, new[] { 3 })]         // int(1.5) = 1
    [InlineData("conv2", 0.4, new[] { 2, 3 })]      // norms 2, 5, 2, 1, 3: tie 0/2 keeps the lower index
    [InlineData("conv2", 0.7, new[] { 0, 2, 3 })]
    [InlineData("conv2", 0.9, new[] { 0, 2, 3, 4 })]
    public void L1_pruner_selects_the_smallest_filters(string layer, double sparsity, int[] expected)
    {
        var model = new TinyNet();
        nn.Module<Tensor, Tensor> target = layer == "conv1" ? model.conv1 : model.conv2;
        var mask = new L1FilterPruner().SelectFiltersToPrune(target, sparsity);
        Assert.Equal(expected, Enumerable.Range(0, mask.Length).Where(i => mask[i]));
    }

    [Theory]
    [InlineData(100, 0.29, 28)] // 100 * 0.29 = 28.999999999999996 in doubles, truncated as NNI's int() does
    [InlineData(10, 0.7, 7)]
    [InlineData(3, 0.9, 2)]
    [InlineData(64, 0.5, 32)]
    [InlineData(10, 0.05, 0)]
    [InlineData(1, 0.9, 0)]     // NNI never prunes a layer with fewer than 2 filters
    public void Prune_count_is_NNI_int_of_filters_times_sparsity(long filters, double sparsity, int expected) =>
        Assert.Equal(expected, L1FilterPruner.PruneCount(filters, sparsity));

    [Fact]
    public void Masking_zeroes_weight_and_bias_and_the_backup_restores_bitwise()
    {
        var model = new TinyNet();
        var before = ModelBits.Snapshot(model);
        using (var backup = new LayerWeightsBackup(model.conv2))
        {
            Assert.Equal(2, FilterMasking.Apply(model.conv2, [false, true, false, true, false]));
            Assert.Equal([1, 3], ModelBits.ZeroFilters(model.conv2.weight, model.conv2.bias));
            Assert.Empty(ModelBits.ZeroFilters(model.conv1.weight, model.conv1.bias));
            backup.Restore();
        }
        ModelBits.AssertSame(before, ModelBits.Snapshot(model));
        Assert.Throws<ArgumentException>(() => FilterMasking.Apply(model.conv2, [true]));
    }

    [Fact]
    public void Analysis_prunes_one_layer_at_a_time_and_restores_the_model_bitwise()
    {
        var model = new TinyNet();
        var before = ModelBits.Snapshot(model);
        var mse = NegativeMse(model);
        var seen = new List<(int[] Conv1, int[] Conv2, int[] Fc)>();
        double Validate(nn.Module<Tensor, Tensor> m)
        {
            seen.Add((ModelBits.ZeroFilters(model.conv1.weight, model.conv1.bias),
                ModelBits.ZeroFilters(model.conv2.weight, model.conv2.bias),
                ModelBits.ZeroFilters(model.fc.weight, model.fc.bias)));
            return mse(m);
        }

        var analysis = new SensitivityAnalysis(model, Validate, sparsities: [0.5, 0.25], includeLinear: true);
        var result = analysis.Analyze();

        ModelBits.AssertSame(before, ModelBits.Snapshot(model));
        Assert.Equal(0.0, result.Baseline);
        Assert.Equal([0.25, 0.5], result.Sparsities);
        Assert.Equal(["conv1", "conv2", "fc"], result.Metrics.Keys);
        Assert.All(result.Metrics.Values, row => Assert.Equal([0.25, 0.5], row.Keys));
        var fcOrder = model.fc.weight.detach().abs().sum(1).data<float>().ToArray()
            .Select((n, i) => (n, i)).OrderBy(x => x.n).Select(x => x.i).ToArray();
        int[] none = [];
        var expected = new List<(int[], int[], int[])>
        {
            (none, none, none),                        // baseline
            ([1], none, none), ([1, 3], none, none),   // conv1: int(4*0.25) = 1, int(4*0.5) = 2
            (none, [3], none), (none, [2, 3], none),   // conv2: int(5*0.25) = 1, int(5*0.5) = 2
            (none, none, none),                        // fc: int(3*0.25) = 0
            (none, none, [fcOrder[0]]),                // fc: int(3*0.5) = 1
        };
        Assert.Equal(expected.Count, seen.Count);
        for (var i = 0; i < seen.Count; i++)
        {
            Assert.Equal(expected[i].Item1, seen[i].Conv1);
            Assert.Equal(expected[i].Item2, seen[i].Conv2);
            Assert.Equal(expected[i].Item3, seen[i].Fc);
        }
        Assert.Equal(0.0, result.Metrics["fc"][0.25]); // nothing pruned: exactly the baseline
        Assert.True(result.Metrics["conv1"][0.5] < 0);
    }

    [Fact]
    public void Model_is_restored_when_the_validation_function_throws()
    {
        var model = new TinyNet();
        var before = ModelBits.Snapshot(model);
        var calls = 0;
        var analysis = new SensitivityAnalysis(model, _ => ++calls == 3 ? throw new InvalidOperationException("boom") : 1.0);
        Assert.Equal("boom", Assert.Throws<InvalidOperationException>(analysis.Analyze).Message);
        ModelBits.AssertSame(before, ModelBits.Snapshot(model));
    }

    [Fact]
    public void Csv_has_NNI_header_and_rows_with_python_float_text()
    {
        var model = new TinyNet();
        // Baseline, then conv1 at 0.1..0.9, then conv2 at 0.1..0.9.
        var script = new ScriptedMetric(
            [0.92, 0.91, 0.88, 1.0, 1e-05, 0.30000000000000004, -0.0, double.NaN, 1e16, 123456789012345.6,
             0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]);
        var result = new SensitivityAnalysis(model, script.Next).Analyze();
        Assert.Equal(19, script.Calls);
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "sens.csv");
        SensitivityCsv.Write(path, result);
        Assert.Equal(
            DefaultHeader +
            "conv1,0.91,0.88,1.0,1e-05,0.30000000000000004,-0.0,nan,1e+16,123456789012345.6\r\n" +
            "conv2,0.9,0.8,0.7,0.6,0.5,0.4,0.3,0.2,0.1\r\n",
            File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path)); // no temporary file left

        var read = SensitivityCsv.Read(path);
        Assert.True(double.IsNaN(read.Baseline));
        Assert.Equal(result.Sparsities, read.Sparsities);
        Assert.Equal(result.Metrics.Keys, read.Metrics.Keys);
        var copy = Path.Combine(dir.Path, "copy.csv");
        SensitivityCsv.Write(copy, read);
        Assert.Equal(File.ReadAllText(path), File.ReadAllText(copy));
    }

    [Fact]
    public void Sparsities_are_sorted_and_rounded_to_two_decimals_as_NNI_does()
    {
        var analysis = new SensitivityAnalysis(new TinyNet(), _ => 1, sparsities: [0.5, 0.125, 0.30000000000000004]);
        Assert.Equal([0.12, 0.3, 0.5], analysis.Sparsities); // numpy.round: 12.5 rounds half to even
        Assert.Equal([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], SensitivityAnalysis.DefaultSparsities);
        Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(new TinyNet(), _ => 1, sparsities: [0.3, 0.301]));
        Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(new TinyNet(), _ => 1, sparsities: [0.5, 1.0]));
        Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(new TinyNet(), _ => 1, earlyStopMode: EarlyStopMode.Dropped));
    }

    [Theory]
    // The metric that triggers the stop is recorded; comparisons are strict (a metric equal to the threshold goes on).
    [InlineData(EarlyStopMode.None, 0.0, new[] { 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1 }, 9)]
    [InlineData(EarlyStopMode.Minimize, 0.5, new[] { 0.8, 0.6, 0.5, 0.49 }, 4)]
    [InlineData(EarlyStopMode.Maximize, 0.95, new[] { 0.9, 0.95, 0.96 }, 3)]
    [InlineData(EarlyStopMode.Dropped, 0.25, new[] { 0.9, 0.75, 0.7 }, 3)]   // baseline 1.0: stops below 0.75
    [InlineData(EarlyStopMode.Raised, 0.5, new[] { 1.2, 1.5, 1.6 }, 3)]     // baseline 1.0: stops above 1.5
    [InlineData(EarlyStopMode.Dropped, 0.25, new[] { 0.5 }, 1)]
    public void Early_stop_ends_the_layer_row_after_the_triggering_metric(EarlyStopMode mode, double value, double[] conv1, int cells)
    {
        var conv2 = Enumerable.Repeat(0.95, 9).ToArray(); // conv2's sweep starts afresh and stops in no mode
        var script = new ScriptedMetric([1.0, .. conv1, .. conv2]);
        var result = new SensitivityAnalysis(new TinyNet(), script.Next, earlyStopMode: mode, earlyStopValue: value).Analyze();

        Assert.Equal(cells, result.Metrics["conv1"].Count);
        Assert.Equal(SensitivityAnalysis.DefaultSparsities.Take(cells), result.Metrics["conv1"].Keys);
        Assert.Equal(9, result.Metrics["conv2"].Count);
        using var dir = new TempDir();
        var path = Path.Combine(dir.Path, "s.csv");
        SensitivityCsv.Write(path, result);
        var lines = File.ReadAllText(path).Split("\r\n");
        Assert.Equal("conv1," + string.Join(",", conv1.Take(cells).Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture))), lines[1]);
        Assert.Equal("conv2" + string.Concat(Enumerable.Repeat(",0.95", 9)), lines[2]);
        var read = SensitivityCsv.Read(path);
        Assert.Equal(cells, read.Metrics["conv1"].Count);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)] // more shards than layers: one shard analyses nothing and writes only the header
    public void Merged_shards_equal_one_unsharded_run(int shards)
    {
        using var dir = new TempDir();
        var full = Path.Combine(dir.Path, "full.csv");
        var model = new TinyNet();
        SensitivityCsv.Write(full, new SensitivityAnalysis(model, NegativeMse(model), includeLinear: true).Analyze());

        var layers = SensitivityAnalysis.PrunableLayers(new TinyNet(), includeLinear: true);
        var parts = new List<string>();
        for (var s = 0; s < shards; s++)
        {
            var shardModel = new TinyNet(); // as a separate process would build it
            var selected = SensitivityAnalysis.SelectShard(layers, s, shards);
            var result = new SensitivityAnalysis(shardModel, NegativeMse(shardModel), layers: selected, includeLinear: true).Analyze();
            parts.Add(Path.Combine(dir.Path, $"shard{s}.csv"));
            SensitivityCsv.Write(parts[^1], result);
        }
        var merged = Path.Combine(dir.Path, "merged.csv");
        SensitivityCsv.Merge(parts, merged);
        Assert.Equal(File.ReadAllBytes(full), File.ReadAllBytes(merged));
    }

    [Fact]
    public void SelectShard_is_round_robin()
    {
        string[] layers = ["a", "b", "c", "d", "e"];
        Assert.Equal(["a", "d"], SensitivityAnalysis.SelectShard(layers, 0, 3));
        Assert.Equal(["b", "e"], SensitivityAnalysis.SelectShard(layers, 1, 3));
        Assert.Equal(["c"], SensitivityAnalysis.SelectShard(layers, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => SensitivityAnalysis.SelectShard(layers, 3, 3));
    }

    [Fact]
    public void Merge_rejects_different_headers_and_a_layer_in_two_shards()
    {
        using var dir = new TempDir();
        string Csv(string name, string text) { var p = Path.Combine(dir.Path, name); File.WriteAllText(p, text); return p; }
        var a = Csv("a.csv", "layername,0.1,0.2\r\nconv1,0.9,0.8\r\n");
        var b = Csv("b.csv", "layername,0.1,0.3\r\nconv2,0.9,0.8\r\n");
        var c = Csv("c.csv", "layername,0.1,0.2\r\nconv2,0.9\r\nconv1,0.7,0.6\r\n");
        var header = Assert.Throws<InvalidDataException>(() => SensitivityCsv.Merge([a, b], Path.Combine(dir.Path, "m.csv")));
        Assert.Contains("header", header.Message);
        Assert.Contains("b.csv", header.Message);
        var twice = Assert.Throws<InvalidDataException>(() => SensitivityCsv.Merge([a, c], Path.Combine(dir.Path, "m.csv")));
        Assert.Contains("'conv1'", twice.Message);
        Assert.False(File.Exists(Path.Combine(dir.Path, "m.csv")));
    }

    [Fact]
    public void Unknown_layer_lists_the_three_closest_names()
    {
        var model = nn.Sequential(
            ("stem", nn.Conv2d(1, 2, 1)), ("stage1", nn.Conv2d(2, 2, 1)), ("stage2", nn.Conv2d(2, 2, 1)),
            ("stage3", nn.Conv2d(2, 2, 1)), ("head", nn.Conv2d(2, 2, 1)), ("act", nn.ReLU()), ("fc", nn.Linear(2, 2)));
        var error = Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(model, _ => 1, layers: ["stage4"]));
        Assert.Contains("Unknown layer 'stage4'. Closest prunable layers: stage1, stage2, stage3.", error.Message);
        var notPrunable = Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(model, _ => 1, layers: ["act"]));
        Assert.Contains("'act' is a ReLU", notPrunable.Message);
        var linear = Assert.Throws<ArgumentException>(() => new SensitivityAnalysis(model, _ => 1, layers: ["fc"]));
        Assert.Contains("includeLinear", linear.Message);
    }

    [Fact]
    public void A_model_without_prunable_layers_is_rejected()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            new SensitivityAnalysis(nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(2, 2)), _ => 1));
        Assert.Contains("no prunable layer", error.Message);
    }

    [Fact]
    public void Layers_are_in_PyTorch_module_order_depth_first()
    {
        var model = nn.Sequential(("a", nn.Sequential(("x", nn.Conv2d(1, 2, 1)), ("y", nn.Conv2d(2, 2, 1)))), ("b", nn.Conv2d(2, 2, 1)));
        Assert.Equal(["a.x", "a.y", "b"], SensitivityAnalysis.PrunableLayers(model));
        var analysis = new SensitivityAnalysis(model, _ => 1, layers: ["b", "a.x"]);
        Assert.Equal(["a.x", "b"], analysis.Layers);
    }

    [Fact]
    public void Plot_is_written_as_a_png()
    {
        var model = new TinyNet();
        var result = new SensitivityAnalysis(model, NegativeMse(model), includeLinear: true).Analyze();
        using var dir = new TempDir();
        var png = Path.Combine(dir.Path, "sensitivity.png");
        SensitivityPlot.Save(result, png);
        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 1000);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]);
        Assert.Equal([png], Directory.GetFiles(dir.Path));
        // To look at the chart: TRAINER_KEEP_SENSITIVITY_PNG=/tmp/s.png dotnet test --filter Plot_is_written_as_a_png
        var keep = Environment.GetEnvironmentVariable("TRAINER_KEEP_SENSITIVITY_PNG");
        if (!string.IsNullOrEmpty(keep)) File.Copy(png, keep, overwrite: true);
    }
}
