using Trainer.Abstractions;
using Trainer.Core.Callbacks;
using TorchSharp;

namespace Trainer.Core.Tests.TensorBoard;

public class TensorBoardCallbackTests
{
    private const int Epochs = 2;
    private const int StepsPerEpoch = 10;

    // Losses of global step s (1-based); chosen so that every mean of 5 is exact in binary.
    private static double Total(long s) => 10.0 - 0.5 * s;
    private static double Aux(long s) => 0.25 * s * s;
    private static float Accuracy(int epoch) => 0.5f + 0.25f * epoch;
    private static float Lr(int epoch) => 0.1f / (epoch + 1);

    /// <summary>Weights set at the end of epoch e: weight = [[1,2,3],[4,5,6]] * (e + 1), bias = [-1, 0.5] * (e + 1).</summary>
    private static float[] WeightValues(int epoch) => [.. new[] { 1f, 2, 3, 4, 5, 6 }.Select(v => v * (epoch + 1))];
    private static float[] BiasValues(int epoch) => [-1f * (epoch + 1), 0.5f * (epoch + 1)];

    private static IReadOnlyList<TfEvent> Simulate(string logDir, TensorBoardOptions options)
    {
        using var network = torch.nn.Linear(3, 2);
        using var context = new FakeTrainingContext(network);
        var callback = new TensorBoardCallback(torch.utils.tensorboard.SummaryWriter(logDir), options);
        var liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        callback.OnTrainStart(context);
        for (var epoch = 0; epoch < Epochs; epoch++)
        {
            context.Epoch = epoch;
            callback.OnEpochStart(context);
            for (var i = 0; i < StepsPerEpoch; i++)
            {
                context.GlobalStep++;
                var s = context.GlobalStep;
                var losses = new Dictionary<string, double> { [LossNames.Total] = Total(s), ["aux"] = Aux(s) };
                context.MetricValues["train/total_loss"] = Total(s);
                callback.OnTrainBatchEnd(context, new BatchOutcome(i, 4, losses));
            }
            Thread.Sleep(30);
            callback.OnValidationEnd(context, new Dictionary<string, double>
            {
                ["val/accuracy"] = Accuracy(epoch),
                ["val/total_loss"] = 2.0 + epoch,
            });
            context.MetricValues["val/accuracy"] = Accuracy(epoch);
            context.MetricValues["train/epoch_total_loss"] = 100.0 + epoch;
            context.MetricValues["train/epoch_aux"] = 200.0 + epoch;
            context.LearningRate = Lr(epoch);
            using (torch.no_grad())
            using (torch.NewDisposeScope())
            {
                network.weight.copy_(torch.tensor(WeightValues(epoch)).reshape(2, 3));
                network.bias!.copy_(torch.tensor(BiasValues(epoch)));
            }
            callback.OnEpochEnd(context);
        }
        callback.OnTrainEnd(context);

        // The histograms' detached copies and the writer's intermediates are all disposed.
        Assert.Equal(liveBefore, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        return TfEventReader.ReadDirectory(logDir);
    }

    private static List<(long Step, TfValue Value)> Series(IEnumerable<TfEvent> events, string tag)
        => events.SelectMany(e => e.Values.Where(v => v.Tag == tag).Select(v => (e.Step, v))).ToList();

    private static void AssertScalars(IEnumerable<TfEvent> events, string tag, params (long Step, float Value)[] expected)
    {
        var series = Series(events, tag);
        Assert.All(series, x => Assert.Equal(TfValueKind.Simple, x.Value.Kind));
        Assert.Equal(expected, series.Select(x => (x.Step, x.Value.SimpleValue!.Value)));
    }

    private static float MeanOf(Func<long, double> loss, int from, int to)
        => (float)(Enumerable.Range(from, to - from + 1).Sum(s => loss(s)) / (to - from + 1));

    [Fact]
    public void Writes_losses_metrics_lr_time_and_histograms_at_the_right_steps()
    {
        using var dir = new TempDir();
        var events = Simulate(dir.Path, new TensorBoardOptions { LogEveryNSteps = 5 });

        // Training losses: means over each window of 5 global steps, at steps 5, 10, 15, 20.
        AssertScalars(events, "train/total_loss", (5, 8.5f), (10, 6f), (15, 3.5f), (20, 1f));
        Assert.Equal(8.5f, MeanOf(Total, 1, 5)); // the expectations above are the window means
        AssertScalars(events, "train/aux",
            (5, MeanOf(Aux, 1, 5)), (10, MeanOf(Aux, 6, 10)), (15, MeanOf(Aux, 11, 15)), (20, MeanOf(Aux, 16, 20)));
        Assert.Equal(2.75f, MeanOf(Aux, 1, 5)); // 0.25 * (1+4+9+16+25) / 5

        // Validation metrics and lr at epoch + 1.
        AssertScalars(events, "val/accuracy", (1, 0.5f), (2, 0.75f));
        AssertScalars(events, "val/total_loss", (1, 2f), (2, 3f));
        AssertScalars(events, "lr", (1, 0.1f), (2, 0.05f));

        // Only the "train/epoch_" metrics of the context are copied at the epoch end.
        AssertScalars(events, "train/epoch_total_loss", (1, 100f), (2, 101f));
        AssertScalars(events, "train/epoch_aux", (1, 200f), (2, 201f));
        Assert.DoesNotContain(events.SelectMany(e => e.Values), v => v.Tag == "train/train/total_loss" || v.Tag == "val/val/accuracy");

        var times = Series(events, "time/epoch_seconds");
        Assert.Equal([1L, 2L], times.Select(x => x.Step));
        Assert.All(times, x => Assert.InRange(x.Value.SimpleValue!.Value, 0.029f, 30f));

        // One histogram per parameter and epoch, describing exactly the values at that epoch's end.
        AssertHistograms(events, "weights/weight", WeightValues);
        AssertHistograms(events, "weights/bias", BiasValues);
        Assert.Equal(["weights/bias", "weights/weight"],
            events.SelectMany(e => e.Values).Where(v => v.Kind == TfValueKind.Histogram).Select(v => v.Tag).Distinct().Order());

        // Nothing else was written: version record + 4x2 losses + 2x(2 val + lr + time + 2 epoch metrics + 2 histograms).
        Assert.Equal(1 + 8 + 16, events.Count);
        Assert.All(events, e => Assert.True(e.Values.Count == 1 || e.FileVersion == "brain.Event:2"));
    }

    [Fact]
    public void Without_weight_histograms_writes_everything_else_and_no_histogram()
    {
        using var dir = new TempDir();
        var events = Simulate(dir.Path, new TensorBoardOptions { LogEveryNSteps = 5, WeightHistograms = false });

        Assert.DoesNotContain(events.SelectMany(e => e.Values), v => v.Kind == TfValueKind.Histogram);
        Assert.DoesNotContain(events.SelectMany(e => e.Values), v => v.Tag.StartsWith("weights/"));
        AssertScalars(events, "train/total_loss", (5, 8.5f), (10, 6f), (15, 3.5f), (20, 1f));
        AssertScalars(events, "val/accuracy", (1, 0.5f), (2, 0.75f));
        AssertScalars(events, "lr", (1, 0.1f), (2, 0.05f));
        Assert.Equal(1 + 8 + 12, events.Count);
    }

    [Fact]
    public void Default_options_log_every_50_steps_with_histograms()
    {
        var options = new TensorBoardOptions();
        Assert.Equal(50, options.LogEveryNSteps);
        Assert.True(options.WeightHistograms);

        using var dir = new TempDir();
        var callback = new TensorBoardCallback(torch.utils.tensorboard.SummaryWriter(dir.Path));
        Assert.Equal(options, callback.Options);
    }

    [Fact]
    public void The_mean_covers_only_the_steps_since_the_last_write_even_after_a_resume()
    {
        using var dir = new TempDir();
        using var network = torch.nn.Linear(1, 1);
        using var context = new FakeTrainingContext(network) { GlobalStep = 7 }; // resumed at step 7
        var callback = new TensorBoardCallback(torch.utils.tensorboard.SummaryWriter(dir.Path),
            new TensorBoardOptions { LogEveryNSteps = 4, WeightHistograms = false });

        for (var i = 0; i < 9; i++)
        {
            context.GlobalStep++; // 8 .. 16
            callback.OnTrainBatchEnd(context, new BatchOutcome(i, 1,
                new Dictionary<string, double> { [LossNames.Total] = context.GlobalStep }));
        }

        // Step 8: only step 8 seen since the resume; 12: mean of 9..12; 16: mean of 13..16.
        AssertScalars(TfEventReader.ReadDirectory(dir.Path), "train/total_loss", (8, 8f), (12, 10.5f), (16, 14.5f));
    }

    [Fact]
    public void Histograms_handle_all_zero_parameters_and_skip_non_finite_ones()
    {
        using var dir = new TempDir();
        using var network = torch.nn.Linear(2, 3);
        using (torch.no_grad())
        {
            network.weight.fill_(float.NaN);
            network.bias!.zero_(); // e.g. a freshly initialised normalisation bias
        }
        using var context = new FakeTrainingContext(network);
        var callback = new TensorBoardCallback(torch.utils.tensorboard.SummaryWriter(dir.Path));

        callback.OnEpochEnd(context);

        var histograms = TfEventReader.ReadDirectory(dir.Path).SelectMany(e => e.Values)
            .Where(v => v.Kind == TfValueKind.Histogram).ToList();
        var bias = Assert.Single(histograms);
        Assert.Equal("weights/bias", bias.Tag);
        Assert.Equal((3.0, 0.0, 0.0, 0.0), (bias.Histogram!.Num, bias.Histogram.Min, bias.Histogram.Max, bias.Histogram.Sum));
        Assert.Equal(3.0, bias.Histogram.Buckets.Sum());
    }

    [Fact]
    public void Rejects_a_missing_writer_and_a_step_interval_below_one()
    {
        Assert.Throws<ArgumentNullException>(() => new TensorBoardCallback(null!));
        using var dir = new TempDir();
        var writer = torch.utils.tensorboard.SummaryWriter(dir.Path);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new TensorBoardCallback(writer, new TensorBoardOptions { LogEveryNSteps = 0 }));
    }

    private static void AssertHistograms(IReadOnlyList<TfEvent> events, string tag, Func<int, float[]> valuesAt)
    {
        var series = Series(events, tag);
        Assert.Equal([1L, 2L], series.Select(x => x.Step));
        for (var epoch = 0; epoch < Epochs; epoch++)
        {
            var h = series[epoch].Value.Histogram!;
            var values = valuesAt(epoch).Select(v => (double)v).ToArray();
            Assert.Equal(TfValueKind.Histogram, series[epoch].Value.Kind);
            Assert.Equal(values.Length, h.Num);
            Assert.Equal(values.Min(), h.Min);
            Assert.Equal(values.Max(), h.Max);
            Assert.Equal(values.Sum(), h.Sum);
            Assert.Equal(values.Sum(v => v * v), h.SumSquares);
            Assert.Equal(values.Length, h.Buckets.Sum());
            // TensorFlow layout: bucket i counts the values in [limit[i-1], limit[i]); bucket 0 is the
            // empty bucket below the first non-empty one.
            Assert.Equal(h.Buckets.Count, h.BucketLimits.Count);
            Assert.Equal(0, h.Buckets[0]);
            Assert.All(values, v => Assert.InRange(v, h.BucketLimits[0], h.BucketLimits[^1]));
            for (var b = 1; b < h.Buckets.Count; b++)
            {
                var lo = h.BucketLimits[b - 1];
                var hi = h.BucketLimits[b];
                Assert.Equal(values.Count(v => v >= lo && v < hi), h.Buckets[b]);
            }
        }
    }
}
