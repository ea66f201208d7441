using System.Text.Json;
using Trainer.Core.Analysis.Sensitivity;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Analysis;

/// <summary>The sensitivity pruners besides L1 (l2, fpgm, level) against NNI v2.10's formulas computed by PyTorch on one
/// seeded conv weight (reference/sensitivity_pruners.py).</summary>
public sealed class SensitivityPrunerTests : IDisposable
{
    private readonly JsonDocument reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Analysis", "reference", "sensitivity_pruners.json")));
    private readonly TorchSharp.Modules.Conv2d conv = nn.Conv2d(3, 12, 3, bias: false);

    public SensitivityPrunerTests()
    {
        using var _ = no_grad();
        conv.weight!.copy_(tensor(Values("weight")).reshape(12, 3, 3, 3));
    }

    public void Dispose()
    {
        conv.Dispose();
        reference.Dispose();
    }

    private float[] Values(string key) => reference.RootElement.GetProperty(key).EnumerateArray().Select(v => v.GetSingle()).ToArray();

    [Fact]
    public void L2_and_FPGM_scores_are_NNIs_metrics()
    {
        var l2 = FilterScores.L2(conv.weight!);
        var fpgm = FilterScores.Fpgm(conv.weight!);
        foreach (var (actual, expected) in new[] { (l2, Values("l2")), (fpgm, Values("fpgm")) })
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * Math.Abs(expected[i]), $"filter {i}: {actual[i]} vs NNI {expected[i]}");
        Assert.Equal(FilterScores.L1(conv.weight!), L1FilterPruner.L1Scores(conv.weight!));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Each_pruner_removes_what_NNIs_allocator_drops(int index)
    {
        var c = reference.RootElement.GetProperty("cases")[index];
        var sparsity = c.GetProperty("sparsity").GetDouble();
        foreach (var name in new[] { "l2", "fpgm" })
        {
            var prune = ((IFilterPruner)SensitivityPruners.Create(name)).SelectFiltersToPrune(conv, sparsity);
            Assert.Equal(c.GetProperty(name).EnumerateArray().Select(v => v.GetInt32()), Enumerable.Range(0, prune.Length).Where(i => prune[i]));
        }

        using var backup = new LayerWeightsBackup(conv);
        var level = SensitivityPruners.Create("level");
        var (pruned, total) = level.PruneInPlace(conv, sparsity);
        var zeroed = conv.weight!.reshape(-1).eq(0).nonzero().reshape(-1).data<long>().Select(i => (int)i).ToArray();
        Assert.Equal(c.GetProperty("level_zeroed").EnumerateArray().Select(v => v.GetInt32()), zeroed);
        Assert.Equal((zeroed.Length, 324, "weights"), (pruned, total, level.Unit));
        backup.Restore();
        Assert.Equal(0, conv.weight!.eq(0).sum().item<long>());
    }

    [Fact]
    public void An_unknown_pruner_name_lists_the_accepted_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => SensitivityPruners.Create("taylor"));
        Assert.Contains("unknown pruner 'taylor'; accepted: l1, l2, fpgm, level", error.Message);
        Assert.Equal("filters", SensitivityPruners.Create("L1").Unit);
    }

    [Fact]
    public void The_analysis_runs_any_pruner_and_restores_the_model()
    {
        var model = new TinyNet();
        var before = ModelBits.Snapshot(model);
        var result = new SensitivityAnalysis(model, m =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            return m.call(TinyNet.Input()).abs().sum().item<float>();
        }, SensitivityPruners.Create("level"), sparsities: [0.5]).Analyze();
        Assert.Equal(2, result.Metrics.Count);
        Assert.True(result.Metrics.Values.All(row => row[0.5] != result.Baseline));
        ModelBits.AssertSame(before, ModelBits.Snapshot(model));
    }
}
