using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Trainer.Core.Compression;
using Trainer.Core.Latency;

namespace Trainer.Host.Tests.Cli;

/// <summary>Same configuration, same machine, same seed: the same compressed model, and a resumed compress step replays the
/// decisions its interrupted attempt recorded instead of timing again.</summary>
public sealed class ReproducibleCompressionTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Checkpoint => Path.Combine(_cli.Work, "ckpt", "r", "best.ckpt");

    private string StageCheckpoints(string run) => Path.Combine(_cli.Work, "ckpt", run, "compress");

    /// <summary>The default job's compress stage: LASSO's sibling l1 (faster), latency-aware widths timed in inference form.</summary>
    private (int Code, string Out, string Err) Compress(string run, params string[] extra) => _cli.Cli("compress",
        [$"--Model:Checkpoint={Checkpoint}", $"--Trainer:RunName={run}", "--Compression:Plugins:0=ChannelPruning",
         "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1", "--Compression:Allocation=latency",
         "--Compression:LatencyForm=inference", $"--Compression:LatencyCacheDir={_cli.Work}/latency", .. extra]);

    private void Train()
    {
        var (code, _, err) = _cli.Cli("train");
        Assert.True(code == 0, err);
    }

    /// <summary>The manifest without what a clock measured (latencies, speedups): what must repeat exactly.</summary>
    private static string WithoutTimings(string manifestPath)
    {
        var node = JsonNode.Parse(File.ReadAllText(manifestPath))!;
        Strip(node);
        return node.ToJsonString();

        static void Strip(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                foreach (var key in o.Select(p => p.Key).Where(k => k is "latency_ms" or "speedup").ToList()) o.Remove(key);
                foreach (var (_, child) in o) Strip(child);
            }
            else if (n is JsonArray a) foreach (var child in a) Strip(child);
        }
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void The_compress_stage_run_twice_gives_the_same_manifest_and_weights_and_says_what_timings_decided()
    {
        Train();
        var (code, _, err) = Compress("first");
        Assert.True(code == 0, err);
        (code, _, err) = Compress("second");
        Assert.True(code == 0, err);

        string first = Path.Combine(StageCheckpoints("first"), "manifest.json"), second = Path.Combine(StageCheckpoints("second"), "manifest.json");
        Assert.Equal(WithoutTimings(first), WithoutTimings(second));
        Assert.Equal(Sha256(Path.Combine(StageCheckpoints("first"), "iteration-1.weights")),
            Sha256(Path.Combine(StageCheckpoints("second"), "iteration-1.weights")));
        var iteration = CompressionManifest.Load(second).Iterations.Single();
        Assert.True(iteration.AfterFinetune.Macs < CompressionManifest.Load(second).Original.Macs);
        Assert.Contains(iteration.TimingDecisions, d => d.Contains("latency table"));
        Assert.DoesNotContain(iteration.TimingDecisions, d => d.Contains("timed now"));   // no candidate race by default
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(_cli.Work, "runs", "second", "compress", "summary.json")))!;
        Assert.Equal(iteration.TimingDecisions, summary["timing_decisions"]!["1"]!.AsArray().Select(d => (string)d!));
    }

    [Fact]
    public void A_resumed_compress_step_replays_the_allocation_its_interrupted_attempt_recorded()
    {
        Train();
        // What an attempt killed during its finetuning leaves: the journal, no manifest. Widths the table would not pick.
        var recorded = new Dictionary<string, int> { ["conv1"] = 16, ["conv2"] = 64, ["conv3"] = 96, ["fc1"] = 136 };
        new IterationJournal
        {
            Index = 1, TargetOfOriginal = 0.5,
            Allocation = new ChannelAllocation("latency-aware", recorded,
                new Dictionary<string, int> { ["conv1"] = 32, ["conv2"] = 64, ["conv3"] = 128, ["fc1"] = 256 }, 1, 2, null, null),
            TimedBy = ["the widths: recorded by the interrupted attempt"],
        }.Save(IterationJournal.PathFor(StageCheckpoints("b"), 1));

        var (code, _, err) = Compress("b", "--resume");
        Assert.True(code == 0, err);

        var iteration = CompressionManifest.Load(Path.Combine(StageCheckpoints("b"), "manifest.json")).Iterations.Single();
        Assert.Equal(recorded, iteration.Channels.Where(c => c.Key != "fc2").ToDictionary());
        Assert.Equal(["the widths: recorded by the interrupted attempt"], iteration.TimingDecisions);
        Assert.False(Directory.Exists(Path.Combine(_cli.Work, "latency")));   // nothing was timed to decide the widths
    }
}
