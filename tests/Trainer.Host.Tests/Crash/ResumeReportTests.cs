using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Trainer.Core.Quantization;
using Trainer.Host.Jobs;
using Trainer.Host.Options;
using Trainer.Host.Tests.Cli;

namespace Trainer.Host.Tests.Crash;

/// <summary>What a resumed pipeline reports and leaves: the same reports as the run that made its results, byte-identical
/// quantized files, no temporary file of a killed process.</summary>
[Trait("Category", "Crash")]
public sealed class ResumeReportTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Path_(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    [Fact]
    public void Quantized_files_carry_no_timing_and_a_resumed_quantize_stage_reports_what_the_run_that_made_it_did()
    {
        string[] stages = ["--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=quantize",
            "--Compression:Plugins:0=CustomCompressor", "--Compression:Plugins:1=Quantizers", "--Compression:Compressor=weight-rounding",
            "--Compression:FinetuneEpochs=0", "--Quantization:Quantizer=observer", "--Quantization:Settings:calibration_batches=2"];
        foreach (var run in new[] { "r", "r2" })
        {
            var (code, _, err) = _cli.Cli("run", [.. stages, $"--Trainer:RunName={run}"]);
            Assert.True(code == 0, err);
        }
        // The compress manifests hold each run's own timings; the quantized files embedding them must not differ for it.
        Assert.Equal(Sha(Path_("ckpt", "r", "quantize", "quantized.trnq")), Sha(Path_("ckpt", "r2", "quantize", "quantized.trnq")));

        var summary = Path_("runs", "r", "quantize", "summary.json");
        var before = JsonNode.Parse(File.ReadAllText(summary))!;
        Assert.NotNull(before["calibrated_score"]);
        File.Delete(summary);                 // killed after the export, before its report
        var resumed = _cli.Cli("run", [.. stages, "--Trainer:RunName=r", "--resume"]);
        Assert.True(resumed.Code == 0, resumed.Err);
        var after = JsonNode.Parse(File.ReadAllText(summary))!;
        foreach (var key in new[] { "float_score", "calibrated_score", "quantized_score", "score_change", "export_bytes" })
            Assert.Equal(before[key]!.ToJsonString(), after[key]!.ToJsonString());
    }

    [Fact]
    public void A_pipeline_resumed_before_its_first_checkpoint_trains_from_the_start()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--resume");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path_("ckpt", "r", "last.ckpt")));
        Assert.True(File.Exists(Path_("runs", "r", "summary.json")));
    }

    [Fact]
    public void Resolving_a_resumed_run_removes_the_temporary_files_of_killed_writes_and_nothing_else()
    {
        string[] stale = ["ckpt/r/.last.0123abcd.tmp.ckpt", "ckpt/r/compress/.manifest.89abcdef.tmp.json", "runs/r/export/.summary.00ff00ff.tmp.json"];
        string[] kept = ["ckpt/r/best.ckpt", "ckpt/r/compress/notes.tmp.txt", "runs/r/summary.json", "ckpt/other/.last.0123abcd.tmp.ckpt"];
        foreach (var f in stale.Concat(kept))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path_(f))!);
            File.WriteAllText(Path_(f), "x");
        }
        TrainerOptions Options(bool resume) => new() { RunName = "r", Resume = resume, LogDir = Path_("runs"), CheckpointDir = Path_("ckpt") };

        RunFolders.Resolve(Options(resume: false), stage: "compress");
        Assert.All(stale, f => Assert.True(File.Exists(Path_(f)), f));          // only a resumed run cleans up
        RunFolders.Resolve(Options(resume: true), stage: "compress");
        Assert.False(File.Exists(Path_(stale[1])));                               // a stage alone: its own folders
        Assert.True(File.Exists(Path_(stale[0])) && File.Exists(Path_(stale[2])));
        RunFolders.Resolve(Options(resume: true));
        Assert.All(stale, f => Assert.False(File.Exists(Path_(f)), f));
        Assert.All(kept, f => Assert.True(File.Exists(Path_(f)), f));
    }

    [Fact]
    public void The_calibration_record_reads_back_is_NaN_when_absent_and_names_itself_when_damaged()
    {
        var dir = Path_("ckpt", "r", "quantize");
        Assert.True(double.IsNaN(CalibrationRecord.Read(dir)));
        CalibrationRecord.Write(dir, 0.8125);
        Assert.Equal(0.8125, CalibrationRecord.Read(dir));
        foreach (var damaged in new[] { "{\"calibrated_score\": \"x\"}", "{\"other\": 1}", "{", "[]" })
        {
            File.WriteAllText(Path.Combine(dir, CalibrationRecord.FileName), damaged);
            var e = Assert.Throws<InvalidDataException>(() => CalibrationRecord.Read(dir));
            Assert.Contains(Path.Combine(dir, CalibrationRecord.FileName), e.Message);
        }
    }

    private static string Sha(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
