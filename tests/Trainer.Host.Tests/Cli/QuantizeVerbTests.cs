using System.Text.Json;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer quantize` and the pipeline's quantize stage: export size, faithful reload, resume and errors.</summary>
public class QuantizeVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private (int Code, string Out, string Err) Run(params string[] extra) => _cli.Cli("run",
        ["--Compression:Plugins:0=Quantizers", .. extra]);

    private JsonElement Summary() => JsonDocument.Parse(File.ReadAllText(
        Path.Combine(_cli.Work, "runs", "r", "quantize", "summary.json"))).RootElement;

    [Fact]
    public void Observer_int8_exports_a_file_at_most_027_of_the_float_size_that_reloads_to_the_same_outputs()
    {
        var (code, _, err) = Run("--Pipeline:Stages:0=train", "--Pipeline:Stages:1=quantize", "--Quantization:Quantizer=observer",
            "--Quantization:Settings:calibration_batches=4");
        Assert.True(code == 0, err);
        var s = Summary();
        Assert.Equal("observer", s.GetProperty("quantizer").GetString());
        Assert.InRange(s.GetProperty("size_ratio").GetDouble(), 0.2, 0.27);
        Assert.Equal(5, s.GetProperty("layers").GetInt32());                      // 3 convs + 2 linears
        Assert.InRange(s.GetProperty("score_change").GetDouble(), -0.05, 0.05); // int8 keeps the float accuracy
        Assert.True(File.Exists(Path.Combine(_cli.Work, "ckpt", "r", "quantize", "quantized.trnq")));
    }

    [Fact]
    public void A_channels_last_export_quantizes_like_the_model_it_was_made_from()
    {
        var (code, _, err) = Run("--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export");
        Assert.True(code == 0, err);
        var export = Path.Combine(_cli.Work, "ckpt", "r", "export", "manifest.json");

        (code, _, err) = _cli.Cli("quantize", "--Compression:Plugins:0=Quantizers", "--Quantization:Quantizer=observer",
            "--Quantization:Settings:calibration_batches=2", $"--Model:Manifest={export}");

        Assert.True(code == 0, err);
        var s = Summary();
        Assert.InRange(s.GetProperty("size_ratio").GetDouble(), 0.2, 0.3);
        Assert.InRange(s.GetProperty("score_change").GetDouble(), -0.05, 0.05);
    }

    [Fact]
    public void A_quantizer_that_trains_finetunes_after_compression_and_resume_keeps_the_export()
    {
        string[] stages = ["--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=quantize",
            "--Compression:Plugins:1=CustomCompressor", "--Compression:Compressor=weight-rounding",
            "--Quantization:Quantizer=qat", "--Quantization:Settings:calibration_batches=2"];
        var (code, _, err) = Run(stages);
        Assert.True(code == 0, err);
        var export = Path.Combine(_cli.Work, "ckpt", "r", "quantize", "quantized.trnq");
        var written = File.GetLastWriteTimeUtc(export);
        Assert.True(File.Exists(Path.Combine(_cli.Work, "ckpt", "r", "quantize", "finetune", "last.ckpt")));
        var first = Summary().GetProperty("quantized_score").GetDouble();

        (code, _, err) = Run([.. stages, "--resume"]);
        Assert.True(code == 0, err);
        Assert.Equal(written, File.GetLastWriteTimeUtc(export));                       // not redone
        Assert.Equal(first, Summary().GetProperty("quantized_score").GetDouble(), 6); // the reloaded export measures the same
    }

    [Fact]
    public void Bad_quantizer_settings_are_one_error_naming_the_key_before_any_change()
    {
        var trained = _cli.Cli("train");
        Assert.True(trained.Code == 0, trained.Err);
        var checkpoint = Path.Combine(_cli.Work, "ckpt", "r", "best.ckpt");
        var before = File.ReadAllBytes(checkpoint);

        var (code, _, err) = _cli.Cli("quantize", "--Compression:Plugins:0=Quantizers", "--Quantization:Quantizer=lsq",
            "--Quantization:Settings:bits=17", $"--Model:Checkpoint={checkpoint}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("bits", err);
        Assert.Single(err.Trim().Split('\n'));

        (code, _, err) = _cli.Cli("quantize", "--Compression:Plugins:0=Quantizers", "--Quantization:Quantizer=int4",
            $"--Model:Checkpoint={checkpoint}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Quantization:Quantizer = 'int4'", err);
        Assert.Contains("observer", err);
        Assert.Equal(before, File.ReadAllBytes(checkpoint));
        Assert.False(Directory.Exists(Path.Combine(_cli.Work, "ckpt", "r", "quantize")));
    }
}
