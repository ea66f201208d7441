using System.Text.Json;
using Trainer.Core.Compression;
using Trainer.Core.Inference;
using Trainer.Core.Models;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;
using static TorchSharp.torch;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer export` and the pipeline's export stage: the inference form saved as a manifest that reloads.</summary>
public sealed class ExportVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Path_(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    [Fact]
    public void A_pipeline_export_folds_every_batchnorm_and_reloads_to_the_same_outputs()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1",
            "--Compression:FinetuneEpochs=0");
        Assert.True(code == 0, err);

        var manifestPath = Path_("ckpt", "r", "export", ExportJob.ManifestFileName);
        var exported = CompressionManifest.Load(manifestPath);
        var compressed = CompressionManifest.Load(Path_("ckpt", "r", "compress", CompressJob.ManifestFileName));
        // The compress iteration, then the inference-form step whose edits are the three folds of the Fashion CNN.
        Assert.Equal(["channel-pruning", ExportJob.Step], exported.Iterations.Select(i => i.Compressor));
        var folds = exported.Iterations[^1].Edits.Cast<FoldBatchNormEdit>().ToList();
        Assert.Equal([("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")], folds.Select(f => (f.Conv, f.BatchNorm)));
        Assert.Equal(compressed.Current.Macs, exported.Current.Macs);   // folding changes no MAC of a conv or linear
        Assert.True(exported.Iterations[^1].Speedup > 0);

        // Reloaded from disk, the export computes what the compressed model computes (folding is exact to float rounding).
        using var compressedModel = CompressedModel.Load(Path_("ckpt", "r", "compress", CompressJob.ManifestFileName),
            ModelCatalog.Get("fashion-cnn").Create, out _);
        using var exportedModel = CompressedModel.Load(manifestPath, ModelCatalog.Get("fashion-cnn").Create, out _);
        Assert.DoesNotContain(exportedModel.named_modules(), m => m.module is TorchSharp.Modules.BatchNorm2d);
        compressedModel.eval();
        exportedModel.eval();
        using var input = randn([4, 1, 28, 28], generator: new Generator(3));
        using var mode = inference_mode();
        Assert.True((compressedModel.call(input) - exportedModel.call(input)).abs().max().item<float>() < 1e-4);
        if (exported.Layout == CompressionManifest.ChannelsLastLayout)
            Assert.All(exportedModel.named_modules().Select(m => m.module).OfType<TorchSharp.Modules.Conv2d>(),
                c => Assert.True(ChannelsLast.IsChannelsLast(c.weight)));

        var summary = JsonDocument.Parse(File.ReadAllText(Path_("runs", "r", "export", "summary.json"))).RootElement;
        Assert.Equal(3, summary.GetProperty("folded_batchnorms").GetInt32());
        Assert.Equal(0, summary.GetProperty("reload_max_abs_difference").GetDouble());
    }

    [Fact]
    public void An_export_interrupted_after_its_layout_was_timed_replays_that_layout_on_resume()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export");
        Assert.True(code == 0, err);
        var folder = Path_("ckpt", "r", "export");
        var timed = Enum.Parse<MemoryLayout>(File.ReadAllText(Path.Combine(folder, ExportJob.LayoutFileName)));
        Assert.NotEqual(MemoryLayout.Fastest, timed);
        Assert.Equal(timed == MemoryLayout.ChannelsLast ? CompressionManifest.ChannelsLastLayout : CompressionManifest.ContiguousLayout,
            CompressionManifest.Load(Path.Combine(folder, ExportJob.ManifestFileName)).Layout);

        // As if killed after the timing and before the manifest: the decision on disk, no export yet. The recorded layout
        // is the opposite one, so a new timing could not produce it by chance.
        File.Delete(Path.Combine(folder, ExportJob.ManifestFileName));
        var recorded = timed == MemoryLayout.ChannelsLast ? MemoryLayout.Contiguous : MemoryLayout.ChannelsLast;
        File.WriteAllText(Path.Combine(folder, ExportJob.LayoutFileName), recorded.ToString());
        (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--resume");
        Assert.True(code == 0, err);
        Assert.Equal(recorded == MemoryLayout.ChannelsLast ? CompressionManifest.ChannelsLastLayout : CompressionManifest.ContiguousLayout,
            CompressionManifest.Load(Path.Combine(folder, ExportJob.ManifestFileName)).Layout);

        File.Delete(Path.Combine(folder, ExportJob.ManifestFileName));
        File.WriteAllText(Path.Combine(folder, ExportJob.LayoutFileName), "Sideways");
        (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--resume");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(ExportJob.LayoutFileName, err);
    }

    [Fact]
    public void Export_needs_weights_refuses_to_overwrite_and_refuses_an_export()
    {
        var (code, _, err) = _cli.Cli("export");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Model:Checkpoint", err);

        (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export");
        Assert.True(code == 0, err);
        var manifestPath = Path_("ckpt", "r", "export", ExportJob.ManifestFileName);
        var written = File.GetLastWriteTimeUtc(manifestPath);

        (code, _, err) = _cli.Cli("export", $"--Model:Checkpoint={Path_("ckpt", "r", "best.ckpt")}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("already has an export", err);
        Assert.Equal(written, File.GetLastWriteTimeUtc(manifestPath));
        // --resume keeps it (a resumed pipeline does not redo a finished export).
        (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--resume");
        Assert.True(code == 0, err);
        Assert.Equal(written, File.GetLastWriteTimeUtc(manifestPath));

        (code, _, err) = _cli.Cli("export", $"--Model:Manifest={manifestPath}", "--Trainer:RunName=again");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("already an inference form", err);
    }
}
