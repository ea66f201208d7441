using Trainer.Core.Compression;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

/// <summary>Each compressor gets its own settings section, and a compressor is checked before any work is spent on it.</summary>
public sealed class CompressorSettingsTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    // The shipped appsettings.json's channel-pruning section, and the latency allocation, as the default job has them.
    private static readonly string[] Defaults =
    [
        "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=LowRank", "--Compression:Compressors:channel-pruning:method=lasso",
        "--Compression:Allocation=latency", "--Compression:LatencyForm=inference",
    ];

    [Fact]
    public void Switching_to_low_rank_does_not_carry_the_channel_pruning_settings_and_prepares_no_latency_table()
    {
        var (code, _, err) = _cli.Cli("run", [.. Defaults, "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Compression:Compressor=low-rank",
            "--Compression:Settings:nonlinear_case=false", "--Compression:FinetuneEpochs=0", $"--Compression:LatencyCacheDir={_cli.Work}/latency"]);

        Assert.True(code == 0, err);
        var manifest = CompressionManifest.Load(Path.Combine(_cli.Work, "ckpt", "r", "compress", "manifest.json"));
        Assert.Equal("low-rank", manifest.Iterations.Single().Compressor);
        Assert.True(manifest.Current.Macs < manifest.Original.Macs);
        Assert.Empty(manifest.Iterations.Single().TimingDecisions);
        Assert.False(Directory.Exists(Path.Combine(_cli.Work, "latency")));   // no table measured for a compressor that sizes itself
    }

    [Fact]
    public void A_bad_setting_of_the_configured_compressor_stops_the_run_before_any_latency_table_is_measured()
    {
        var (code, _, err) = _cli.Cli("run", [.. Defaults, "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Compressor=channel-pruning", "--Compression:Settings:colour=red", $"--Compression:LatencyCacheDir={_cli.Work}/latency"]);

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("colour", err);
        Assert.Contains("Compression:Settings", err);
        Assert.False(Directory.Exists(Path.Combine(_cli.Work, "latency")));
    }
}
