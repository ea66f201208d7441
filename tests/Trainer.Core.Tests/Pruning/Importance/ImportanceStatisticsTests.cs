using System.Text.Json.Nodes;
using Trainer.Core.Pruning.Importance;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.Importance;

public class ImportanceStatisticsTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().reshape(-1).data<float>().ToArray();

    [Fact]
    public void Weight_criteria_give_NNIs_metrics_of_a_small_weight()
    {
        var w = tensor(new[] { 3f, -4f, 0f, 1f, -1f, 0f }, [3, 2]);
        Assert.Equal([3f, 4f, 0f, 1f, 1f, 0f], Values(WeightImportance.Of(ImportanceCriterion.Level, w)));
        Assert.Equal([7f, 1f, 1f], Values(WeightImportance.Of(ImportanceCriterion.L1Norm, w)));
        Assert.Equal([5f, 1f, 1f], Values(WeightImportance.Of(ImportanceCriterion.L2Norm, w)));
        // Rows (3,−4), (0,1), (−1,0): ‖r0 − r1‖ = √34, ‖r0 − r2‖ = √32, ‖r1 − r2‖ = √2.
        var fpgm = Values(WeightImportance.Of(ImportanceCriterion.Fpgm, w));
        Assert.Equal([Math.Sqrt(34) + Math.Sqrt(32), Math.Sqrt(34) + Math.Sqrt(2), Math.Sqrt(32) + Math.Sqrt(2)], fpgm.Select(v => (double)v), new ToleranceComparer(1e-5));
        Assert.Throws<ArgumentOutOfRangeException>(() => WeightImportance.Of(ImportanceCriterion.TaylorFo, w));
    }

    [Fact]
    public void Activation_statistics_count_only_training_batches_while_the_gate_is_open_and_survive_a_save_and_load()
    {
        var fc = nn.Linear(1, 2, hasBias: false);
        using (no_grad()) fc.weight!.copy_(tensor(new[] { 1f, -1f }, [2, 1]));
        var open = true;
        using var apoz = new ActivationStatistics([("fc", fc)], ImportanceCriterion.Apoz, "relu", batches: 10, () => open);
        using var mean = new ActivationStatistics([("fc", fc)], ImportanceCriterion.MeanActivation, "relu", batches: 10, () => open);
        fc.train();
        fc.call(tensor(new[] { 1f, -2f, 3f }, [3, 1]));       // outputs (1, −1), (−2, 2), (3, −3)
        open = false;
        fc.call(tensor(new[] { -5f }, [1, 1]));               // gate closed: not counted
        open = true;
        fc.eval();
        fc.call(tensor(new[] { -7f }, [1, 1]));               // eval mode: not counted
        Assert.Equal(1, apoz.BatchesSeen("fc"));
        // Channel 0 is zero after relu once in 3 samples, channel 1 twice: 1 − 1/3 and 1 − 2/3; means 4/3 and 2/3.
        Assert.Equal([2f / 3, 1f / 3], Values(apoz.Metrics()["fc"]), new ToleranceComparer(1e-6));
        Assert.Equal([4f / 3, 2f / 3], Values(mean.Metrics()["fc"]), new ToleranceComparer(1e-6));

        var state = JsonNode.Parse(apoz.SaveState().ToJsonString())!.AsObject();
        apoz.Reset();
        Assert.Equal(0, apoz.BatchesSeen("fc"));
        apoz.LoadState(state);
        Assert.Equal([2f / 3, 1f / 3], Values(apoz.Metrics()["fc"]), new ToleranceComparer(1e-6));
    }

    [Fact]
    public void Taylor_statistics_sum_w_times_g_squared_per_output_channel_and_survive_a_save_and_load()
    {
        var w = tensor(new[] { 1f, 2f, -3f, 0.5f }, [2, 2]).requires_grad_(true);
        w.grad = tensor(new[] { 0.5f, -1f, 1f, 2f }, [2, 2]);
        using var taylor = new TaylorStatistics(new Dictionary<string, Tensor> { ["w"] = w });
        taylor.Add();
        taylor.Add();
        // Row 0: 2·((0.5)² + (−2)²) = 8.5; row 1: 2·((−3)² + 1²) = 20.
        Assert.Equal([8.5f, 20f], Values(taylor.Metrics()["w"]));
        var state = JsonNode.Parse(taylor.SaveState().ToJsonString())!.AsObject();
        taylor.Reset();
        Assert.Throws<InvalidOperationException>(() => taylor.Metrics());
        taylor.LoadState(state);
        Assert.Equal(2, taylor.Steps);
        Assert.Equal([8.5f, 20f], Values(taylor.Metrics()["w"]));
    }

    [Fact]
    public void A_tensor_saved_as_json_reads_back_bit_for_bit_and_a_damaged_one_is_refused()
    {
        var t = tensor(new[] { -0f, float.Epsilon, 1e30f, -2.5f, 7f, 0.1f }, [2, 3]);
        var json = TensorJson.Write(t);
        var back = TensorJson.Read(JsonNode.Parse(json.ToJsonString())!.AsObject());
        Assert.Equal([2L, 3L], back.shape);
        Assert.Equal(Values(t).Select(BitConverter.SingleToInt32Bits), Values(back).Select(BitConverter.SingleToInt32Bits));
        json["shape"] = new JsonArray(4L, 3L);
        Assert.Contains("do not fit its shape [4, 3]", Assert.Throws<InvalidOperationException>(() => TensorJson.Read(json)).Message);
    }

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>, IEqualityComparer<float>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(y));
        public int GetHashCode(double obj) => 0;
        public bool Equals(float x, float y) => Equals((double)x, y);
        public int GetHashCode(float obj) => 0;
    }
}
