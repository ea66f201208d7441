using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Tests.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Latency;

public sealed class LatencyTableTests : IDisposable
{
    private static readonly long[] TinyShape = [1, 3, 32, 32];
    private readonly string cacheDir = Path.Combine(Path.GetTempPath(), "latency-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(cacheDir)) Directory.Delete(cacheDir, recursive: true);
    }

    [Fact]
    public void UnitsInterpolateBilinearlyAndExtrapolateLinearly()
    {
        var unit = new LatencyUnit("c", ["c"], "a", "b", [8, 16], [16, 32], [[1, 3], [2, 6]]);
        Assert.Equal(1, unit.Predict(8, 16), 12);
        Assert.Equal(6, unit.Predict(16, 32), 12);
        Assert.Equal(2, unit.Predict(8, 24), 12);          // halfway along the output axis
        Assert.Equal((2 + 4) / 2.0, unit.Predict(12, 24), 12); // centre: mean of the four corners' edges
        Assert.Equal(10, unit.Predict(16, 48), 12);        // beyond the grid: the last segment's slope
        Assert.Equal(0, unit.Predict(0, 0), 12);           // never below 0
        var fixedUnit = new LatencyUnit("fc", ["fc"], null, null, [512], [1000], [[0.25]]);
        Assert.Equal(0.25, fixedUnit.Predict(300, 7));
    }

    [Fact]
    public void PredictionIsTheRestPlusTheUnitsAtTheirGroupsWidths()
    {
        var key = new LatencyTableKey("M", "f", "cpu", 2, "0");
        var table = new LatencyTable(key,
        [
            new LatencyUnit("conv1", ["conv1"], null, "conv1", [3], [8, 16], [[1, 2]]),
            new LatencyUnit("conv2", ["conv2"], "conv1", null, [8, 16], [32], [[3], [5]]),
        ], 0.5, 7.5, 1, DateTimeOffset.UnixEpoch);
        Assert.Equal(0.5 + 2 + 5, table.FullPredictedMs, 12);
        Assert.Equal(0.5 + 1 + 3, table.PredictMs(new Dictionary<string, int> { ["conv1"] = 8 }), 12);
        Assert.Equal(0.5 + 1.5 + 4, table.PredictMs(new Dictionary<string, int> { ["conv1"] = 12, ["unknown"] = 1 }), 12);
    }

    [Fact]
    public void MeasuringLeavesTheGlobalRandomGeneratorAsItWas()
    {
        // Training draws from the global generator: a run that measures the table and one that reuses it must draw alike.
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        torch.manual_seed(3);
        var before = RandomBytes();
        LatencyTable.LoadOrMeasure(model, TinyShape, graph, new LatencyTableOptions { CacheDir = cacheDir, Rounds = 1, GridPoints = 2 },
            NullLogger.Instance);
        AlternatingTimer.ForwardMs([model], TinyShape, rounds: 1);
        Assert.Equal(before, RandomBytes());

        static byte[] RandomBytes()
        {
            using var state = torch.random.get_rng_state();
            return state.data<byte>().ToArray();
        }
    }

    [Fact]
    public void MeasuresOnceThenReusesTheCachedTable()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var options = new LatencyTableOptions { CacheDir = cacheDir, Rounds = 1, GridPoints = 2 };

        var first = LatencyTable.LoadOrMeasure(model, TinyShape, graph, options, NullLogger.Instance);
        var files = Directory.GetFiles(cacheDir, "*.json");
        Assert.Single(files);
        Assert.StartsWith("TinyResNet-", Path.GetFileName(files[0]));

        // One piece per Conv2d/Linear, in execution order; the stem piece takes its BatchNorm, ReLU and pooling along.
        Assert.Equal(graph.Producers, first.Units.Select(u => u.Producer));
        var stem = first.Units[0];
        Assert.Equal(["conv1", "bn1", "relu", "maxpool"], stem.Layers);
        Assert.Null(stem.InGroup);
        Assert.Equal([3], stem.InCounts);
        Assert.Equal([8, 16], stem.OutCounts);
        var shortcut = first.Units.Single(u => u.Producer == "layer2.downsample.0");
        Assert.Equal(("conv1", "layer2.downsample.0"), (shortcut.InGroup, shortcut.OutGroup));
        Assert.Equal([16, 32], shortcut.OutCounts);
        Assert.Equal(["fc"], first.Units[^1].Layers);
        Assert.All(first.Units, u => Assert.All(u.Ms.SelectMany(r => r), ms => Assert.True(ms > 0)));
        Assert.Equal(first.FullMeasuredMs, first.FullPredictedMs, 9);
        Assert.Equal(2, first.Key.Threads == torch.get_num_threads() ? 2 : 0);

        var second = LatencyTable.LoadOrMeasure(model, TinyShape, graph, options, NullLogger.Instance);
        Assert.Equal(first.MeasuredAt, second.MeasuredAt);
        Assert.Equal(first.Key, second.Key);
        Assert.Equal(JsonSerializer.Serialize(first.Units), JsonSerializer.Serialize(second.Units));

        // Another grid is another key: measured again, in a second file.
        var third = LatencyTable.LoadOrMeasure(model, TinyShape, graph, options with { GridPoints = 3 }, NullLogger.Instance);
        Assert.NotEqual(first.Key.ModelFingerprint, third.Key.ModelFingerprint);
        Assert.Equal(2, Directory.GetFiles(cacheDir, "*.json").Length);
    }

    [Fact]
    public void AnInferenceFormModelIsTimedInChannelsLastUnderItsOwnKey()
    {
        var model = new TinyResNet();
        var contiguousKey = LatencyTableKey.For("TinyResNet", ModelGraph.Build(model, TinyShape), new LatencyTableOptions());
        InferenceForm.Apply(model, TinyShape, new InferenceFormOptions { Layout = MemoryLayout.ChannelsLast });
        var graph = ModelGraph.Build(model, TinyShape);
        var options = new LatencyTableOptions { CacheDir = cacheDir, Rounds = 1, GridPoints = 2, Layout = MemoryLayout.ChannelsLast };

        var table = LatencyTable.LoadOrMeasure(model, TinyShape, graph, options, NullLogger.Instance);
        Assert.NotEqual(contiguousKey.ModelFingerprint, table.Key.ModelFingerprint);
        // The folded BatchNorms are Identity now: they ride along as parameter-free layers.
        Assert.Equal(["conv1", "bn1", "relu", "maxpool"], table.Units[0].Layers);
        Assert.Equal(graph.Producers.Count, table.Units.Count);
        Assert.All(table.Units, u => Assert.All(u.Ms.SelectMany(r => r), ms => Assert.True(ms > 0)));
    }

    [Fact]
    public void ATableOfAnotherMachineIsNotReused()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var options = new LatencyTableOptions { CacheDir = cacheDir, Rounds = 1, GridPoints = 2 };
        var table = LatencyTable.LoadOrMeasure(model, TinyShape, graph, options, NullLogger.Instance);
        var path = Directory.GetFiles(cacheDir, "*.json").Single();

        Assert.NotNull(LatencyTable.TryLoad(path, table.Key));
        Assert.Null(LatencyTable.TryLoad(path, table.Key with { Cpu = "another cpu" }));
        Assert.Null(LatencyTable.TryLoad(path, table.Key with { Threads = table.Key.Threads + 1 }));
        File.WriteAllText(path, "{ not json");
        Assert.Null(LatencyTable.TryLoad(path, table.Key));
    }

    [Fact]
    public void BadOptionsAndShapesAreRefusedBeforeMeasuring()
    {
        var model = new TinyResNet();
        var graph = ModelGraph.Build(model, TinyShape);
        var e = Assert.Throws<ArgumentException>(() =>
            LatencyTable.LoadOrMeasure(model, TinyShape, graph, new LatencyTableOptions { CacheDir = cacheDir, Floor = 0 }));
        Assert.Contains("Floor", e.Message);
        Assert.Throws<ArgumentException>(() =>
            LatencyTable.LoadOrMeasure(model, TinyShape, graph, new LatencyTableOptions { CacheDir = cacheDir, Layout = MemoryLayout.Fastest }));
        e = Assert.Throws<ArgumentException>(() =>
            LatencyTable.LoadOrMeasure(model, [1, 3, 64, 64], graph, new LatencyTableOptions { CacheDir = cacheDir }));
        Assert.Contains("graph", e.Message);
        Assert.False(Directory.Exists(cacheDir));
    }
}
