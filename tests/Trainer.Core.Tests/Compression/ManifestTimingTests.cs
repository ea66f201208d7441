using Trainer.Core.Compression;

namespace Trainer.Core.Tests.Compression;

public sealed class ManifestTimingTests
{
    private static CompressionManifest Manifest(double latencyMs, double speedup) => new()
    {
        Model = new ModelIdentity("fashion-cnn", "", "", [1, 1, 28, 28]),
        Original = new ModelMetrics(30_735_360, 1_701_578, 0.9, latencyMs),
        Iterations =
        [
            new CompressionIteration
            {
                Index = 1, Compressor = "channel-pruning", TargetMacsRatio = 0.5, Speedup = speedup,
                Edits = [new ShrinkEdit(new Dictionary<string, int> { ["conv1"] = 16 })],
                AfterCompress = new(15_000_000, 550_000, 0.8, latencyMs / speedup), AfterFinetune = new(15_000_000, 550_000, 0.85, latencyMs / speedup),
                Channels = new Dictionary<string, int> { ["conv1"] = 16 },
            },
        ],
        Weights = "iteration-1.weights",
    };

    [Fact]
    public void Without_timings_two_runs_of_one_model_give_the_same_manifest_text()
    {
        var fast = Manifest(latencyMs: 3.9, speedup: 1.62).WithoutTimings();
        var slow = Manifest(latencyMs: 28.0, speedup: 1.41).WithoutTimings();
        Assert.Equal(fast.ToJson(), slow.ToJson());

        Assert.True(double.IsNaN(fast.Original.LatencyMs));
        Assert.All(fast.Iterations, i =>
        {
            Assert.Null(i.Speedup);
            Assert.True(double.IsNaN(i.AfterCompress.LatencyMs) && double.IsNaN(i.AfterFinetune.LatencyMs));
        });
        // Everything else is kept, and the text still reads as a manifest that rebuilds the same model.
        var read = CompressionManifest.FromJson(fast.ToJson(), "test");
        Assert.Equal(0.85, read.Current.Score);
        Assert.Equal(15_000_000, read.Current.Macs);
        Assert.Equal("shrink conv1→16", Assert.Single(read.AllEdits).ToString());
        Assert.Equal("iteration-1.weights", read.Weights);
    }
}
