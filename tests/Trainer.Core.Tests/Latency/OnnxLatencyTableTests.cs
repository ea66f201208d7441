using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Graph;
using Trainer.Core.Inference;
using Trainer.Core.Latency;
using Trainer.Core.Tests.Inference;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Latency;

/// <summary>Latency tables timed in ONNX Runtime (Compression:LatencyForm = onnx): keys, grids, cache separation, refusals.</summary>
public sealed class OnnxLatencyTableTests : IDisposable
{
    private static readonly long[] SmallShape = [1, 3, 16, 16];
    private readonly string cacheDir = Path.Combine(Path.GetTempPath(), "onnx-latency-tests-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(cacheDir)) Directory.Delete(cacheDir, recursive: true);
    }

    /// <summary>conv(3→32)-BN-ReLU, conv(32→64)-BN-ReLU-maxpool, global pool, flatten, fc(64→10): two groups, three pieces.</summary>
    private static nn.Module<Tensor, Tensor> SmallNet()
    {
        torch.manual_seed(1);
        var model = nn.Sequential(
            ("conv1", nn.Conv2d(3, 32, 3, padding: 1, bias: false)), ("bn1", nn.BatchNorm2d(32)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(32, 64, 3, padding: 1, bias: false)), ("bn2", nn.BatchNorm2d(64)), ("relu2", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)), ("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(64, 10)));
        model.eval();
        return model;
    }

    private LatencyTableOptions OnnxOptions => new()
    {
        CacheDir = cacheDir, Rounds = 1, GridPoints = 2, RoundTo = 16, Engine = LatencyEngine.OnnxRuntime, OnnxThreads = 1,
    };

    [Fact]
    public void AnOnnxTableTimesEveryPieceOverItsGridUnderAKeyOfItsOwn()
    {
        using var model = SmallNet();
        var graph = ModelGraph.Build(model, SmallShape);
        var table = LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions, NullLogger.Instance);

        Assert.Equal($"onnxruntime {OnnxRuntimeRunner.Version}", table.Key.Engine);
        Assert.StartsWith("onnxruntime 1.32", table.Key.Engine);
        Assert.Equal(1, table.Key.Threads);
        // One piece per producer, each with its BatchNorm and the parameter-free layers after it; grids of multiples of 16
        // from half the width up (RoundTo 16, GridPoints 2).
        Assert.Equal(["conv1", "conv2", "fc"], table.Units.Select(u => u.Producer));
        Assert.Equal(["conv1", "bn1", "relu1"], table.Units[0].Layers);
        Assert.Equal(["conv2", "bn2", "relu2", "pool", "avgpool", "flatten"], table.Units[1].Layers);
        Assert.Equal([3], table.Units[0].InCounts);
        Assert.Equal([16, 32], table.Units[0].OutCounts);
        Assert.Equal([16, 32], table.Units[1].InCounts);
        Assert.Equal([32, 64], table.Units[1].OutCounts);
        Assert.Equal([32, 64], table.Units[2].InCounts);
        Assert.Equal([10], table.Units[2].OutCounts);
        Assert.All(table.Units, u => Assert.All(u.Ms.SelectMany(r => r), ms => Assert.True(ms > 0)));
        Assert.True(table.FullMeasuredMs > 0);

        // Cached under its own file; the TorchSharp key of the same model and grid is another fingerprint and file, and
        // neither file is taken for the other.
        var onnxFile = Assert.Single(Directory.GetFiles(cacheDir, "*.json"));
        var torchKey = LatencyTableKey.For(model.GetType().Name, graph, OnnxOptions with { Engine = LatencyEngine.TorchSharp });
        Assert.Equal(LatencyTableKey.TorchSharpEngine, torchKey.Engine);
        Assert.NotEqual(torchKey.ModelFingerprint, table.Key.ModelFingerprint);
        Assert.NotEqual(torchKey.FileName(), Path.GetFileName(onnxFile));
        Assert.Null(LatencyTable.TryLoad(onnxFile, torchKey));
        Assert.Equal(table.Key, LatencyTable.TryLoad(onnxFile, table.Key)!.Key);
        // Another ONNX Runtime thread count is another table.
        Assert.NotEqual(LatencyTableKey.For(model.GetType().Name, graph, OnnxOptions with { OnnxThreads = 2 }).FileName(), Path.GetFileName(onnxFile));

        // A second call reuses it (same measurement time), and the torch table lands in a second file.
        var again = LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions, NullLogger.Instance);
        Assert.Equal(table.MeasuredAt, again.MeasuredAt);
        var torchTable = LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions with { Engine = LatencyEngine.TorchSharp }, NullLogger.Instance);
        Assert.Equal(LatencyTableKey.TorchSharpEngine, torchTable.Key.Engine);
        Assert.Equal(2, Directory.GetFiles(cacheDir, "*.json").Length);
    }

    [Fact]
    public void MeasuringInOnnxRuntimeLeavesTheGlobalRandomGeneratorAsItWas()
    {
        using var model = SmallNet();
        var graph = ModelGraph.Build(model, SmallShape);
        torch.manual_seed(3);
        using var before = torch.random.get_rng_state();
        LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions with { UseCache = false }, NullLogger.Instance);
        using var after = torch.random.get_rng_state();
        Assert.Equal(before.data<byte>().ToArray(), after.data<byte>().ToArray());
    }

    [Fact]
    public void TheOnnxForwardTimerTimesEveryCandidateInOrderAtTheGivenBatchAndLeavesTheGlobalGeneratorAsItWas()
    {
        using var model = SmallNet();
        using var other = SmallNet();
        torch.manual_seed(3);
        using var before = torch.random.get_rng_state();
        // Exported at batch 1 (the batch is dynamic) and timed at batch 4, both in the alternating rounds of the one ONNX
        // Runtime timer (OnnxRuntimeLatency.MedianMs).
        var ms = OnnxRuntimeRunner.ForwardTimer([4, 3, 16, 16], threads: 1, rounds: 2)([model, other]);
        using var after = torch.random.get_rng_state();
        Assert.Equal(2, ms.Length);
        Assert.All(ms, m => Assert.True(m > 0 && double.IsFinite(m), $"{m} ms"));
        Assert.Equal(before.data<byte>().ToArray(), after.data<byte>().ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => OnnxRuntimeRunner.ForwardMs([model], [1, 3, 16, 16], threads: 0, rounds: 1));
    }

    [Fact]
    public void AModelTheExporterCannotWriteIsRefusedByNameBeforeAnyPieceIsTimed()
    {
        // TinyResNet's residual block adds functionally after its last module call: no ONNX rule covers it.
        var model = new TinyResNet();
        long[] shape = [1, 3, 32, 32];
        var graph = ModelGraph.Build(model, shape);
        var e = Assert.Throws<OnnxExportException>(() => LatencyTable.LoadOrMeasure(model, shape, graph, OnnxOptions, NullLogger.Instance));
        Assert.Equal("layer1", e.ModulePath);
        Assert.False(Directory.Exists(cacheDir) && Directory.GetFiles(cacheDir).Length > 0);
    }

    [Fact]
    public void OnnxEngineOptionsAreCheckedBeforeMeasuring()
    {
        using var model = SmallNet();
        var graph = ModelGraph.Build(model, SmallShape);
        var e = Assert.Throws<ArgumentException>(() => LatencyTable.LoadOrMeasure(model, SmallShape, graph,
            OnnxOptions with { Layout = MemoryLayout.ChannelsLast }));
        Assert.Contains("Contiguous with Engine = OnnxRuntime", e.Message);
        e = Assert.Throws<ArgumentException>(() => LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions with { OnnxThreads = -1 }));
        Assert.Contains("OnnxThreads", e.Message);
        e = Assert.Throws<ArgumentException>(() => LatencyTable.LoadOrMeasure(model, SmallShape, graph, OnnxOptions with { Engine = (LatencyEngine)7 }));
        Assert.Contains("Engine", e.Message);
        Assert.False(Directory.Exists(cacheDir));
    }

    [Fact]
    public void TheRunnerComputesTheModelsOutputInOnnxRuntimeAtAnyBatch()
    {
        using var model = SmallNet();
        var bytes = OnnxRuntimeRunner.ExportBytes(model, SmallShape);
        foreach (long batch in new long[] { 1, 4 })
        {
            long[] shape = [batch, 3, 16, 16];
            using var runner = new OnnxRuntimeRunner(bytes, shape, threads: 1);
            var (values, outputShape) = runner.RunAndRead();
            Assert.Equal([batch, 10], outputShape);
            // The runner's input is its own seeded one: rebuild it to compare with TorchSharp.
            var random = new Random(5);
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(random.NextDouble() * 2 - 1);
            using var scope = NewDisposeScope();
            using var mode = inference_mode();
            var expected = model.call(tensor(data).reshape(shape)).data<float>().ToArray();
            Assert.Equal(expected.Length, values.Length);
            Assert.True(expected.Zip(values).Max(p => Math.Abs(p.First - p.Second)) < 1e-4);
        }
    }

    [Fact]
    public void TheLatencyAwareAllocationOfAnOnnxTableKeepsMultiplesOfSixteenAndHalfOfEveryLayer()
    {
        // resnet18 at 32x32, its table timed in ONNX Runtime with RoundTo 16 (the NCHWc block on AVX-512 CPUs).
        torch.manual_seed(0);
        using var model = torchvision.models.resnet18(num_classes: 10);
        model.eval();
        long[] shape = [1, 3, 32, 32];
        var graph = ModelGraph.Build(model, shape);
        var table = LatencyTable.LoadOrMeasure(model, shape, graph, OnnxOptions, NullLogger.Instance);
        var groups = AllocatableGroup.Of(graph);
        Assert.Equal(12, groups.Count);

        foreach (var allocation in LatencyAwareAllocator.Candidates(model, graph, table, 0.5, floor: 0.5, roundTo: 16, count: 4))
        {
            Assert.InRange(allocation.MacsRatio, 0.5 - LatencyAwareAllocator.BudgetWindow - 1e-9, 0.5);
            foreach (var g in groups)
            {
                int kept = allocation.KeptChannels[g.Id];
                Assert.True(kept % 16 == 0, $"{g.Id} keeps {kept}");
                Assert.True(2 * kept >= g.Channels, $"{g.Id} keeps {kept} of {g.Channels}");
            }
        }
    }

    [Fact]
    public void ATableCachedBeforeEnginesExistedIsReadAsTimedInTorchSharp()
    {
        // Files written before the key had an engine have no "Engine" property: they stay valid TorchSharp tables.
        var key = new LatencyTableKey("M", "f", "cpu", 2, "0.107.0");
        var table = new LatencyTable(key, [new LatencyUnit("conv1", ["conv1"], null, "conv1", [3], [8, 16], [[1, 2]])], 0.5, 2.5, 1,
            DateTimeOffset.UnixEpoch);
        var node = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(table))!;
        Assert.Equal(LatencyTableKey.TorchSharpEngine, (string?)node["Key"]!["Engine"]);
        node["Key"]!.AsObject().Remove("Engine");
        Directory.CreateDirectory(cacheDir);
        var path = Path.Combine(cacheDir, key.FileName());
        File.WriteAllText(path, node.ToJsonString());

        Assert.Equal(key, LatencyTable.TryLoad(path, key)!.Key);
        Assert.Null(LatencyTable.TryLoad(path, key with { Engine = "onnxruntime 1.32.0" }));
    }

    [Fact]
    public void AnUnknownLatencyFormIsRefusedNamingTheOptionAndTheAcceptedForms()
    {
        new CompressionSessionOptions { LatencyForm = "onnx" }.CheckLatencyForm();
        new CompressionSessionOptions { LatencyForm = "Inference" }.CheckLatencyForm();
        var e = Assert.Throws<CompressionSettingsException>(() => new CompressionSessionOptions { LatencyForm = "exported" }.CheckLatencyForm());
        Assert.Equal("LatencyForm", e.Keys);
        Assert.Equal("LatencyForm 'exported' is unknown; accepted: trained, inference, onnx", e.Message);
    }
}
