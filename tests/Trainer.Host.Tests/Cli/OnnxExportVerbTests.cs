using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Trainer.Core.Export.Onnx;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;
using static TorchSharp.torch;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer export --Export:Format=onnx`: the inference form also written as model.onnx and checked in ONNX Runtime.</summary>
public sealed class OnnxExportVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Path_(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    [Fact]
    public void Onnx_export_writes_model_onnx_that_matches_in_onnx_runtime_and_reports_it()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--Export:Format=onnx");
        Assert.True(code == 0, err);

        var onnxPath = Path_("ckpt", "r", "export", ExportJob.OnnxFileName);
        using (var session = new InferenceSession(onnxPath))
        {
            Assert.Equal(["input"], session.InputMetadata.Keys);
            Assert.Equal(["output"], session.OutputMetadata.Keys);
            Assert.Equal([-1, 1, 28, 28], session.InputMetadata["input"].Dimensions);
        }
        var summary = JsonDocument.Parse(File.ReadAllText(Path_("runs", "r", "export", "summary.json"))).RootElement;
        Assert.Equal(onnxPath, summary.GetProperty("onnx").GetString());
        Assert.Equal(17, summary.GetProperty("onnx_opset").GetInt64());
        Assert.Equal(new FileInfo(onnxPath).Length, summary.GetProperty("onnx_bytes").GetInt64());
        Assert.InRange(summary.GetProperty("onnx_max_abs_difference").GetDouble(), 0, 1e-4);
    }

    [Fact]
    public void Existing_model_onnx_is_not_replaced_without_resume_and_nothing_is_exported()
    {
        var onnx = Path_("ckpt", "r", "export", ExportJob.OnnxFileName);
        Directory.CreateDirectory(Path.GetDirectoryName(onnx)!);
        File.WriteAllText(onnx, "keep me");

        var (code, _, err) = _cli.Cli("export", "--Export:Format=onnx", "--Model:Checkpoint=/any/best.ckpt");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains($"already has an ONNX export in '{onnx}'. Pass --resume to replace it", err);
        Assert.Equal("keep me", File.ReadAllText(onnx));
        Assert.False(File.Exists(Path_("ckpt", "r", "export", ExportJob.ManifestFileName)));
    }

    [Fact]
    public void Onnx_file_whose_outputs_differ_on_validation_samples_is_one_error_and_kept_aside_as_rejected()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--Export:Format=onnx",
            $"--Model:Assembly={typeof(MisdescribedModel).Assembly.Location}", $"--Model:Type={typeof(MisdescribedModel).FullName}");

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("differs from TorchSharp's by 1 on the task 'fashion-mnist''s validation samples (tolerance 0.0001)", err);
        var onnx = Path_("ckpt", "r", "export", ExportJob.OnnxFileName);
        Assert.False(File.Exists(onnx));
        Assert.True(new FileInfo(onnx + ".rejected").Length > 1000);
        Assert.Contains($"moved to '{onnx}.rejected'", err);
    }

    [Fact]
    public void Unknown_export_format_is_bad_input_naming_the_accepted_ones()
    {
        var (code, _, err) = _cli.Cli("export", "--Export:Format=tflite");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Export:Format = 'tflite' is invalid; accepted: inference-form, onnx", err);
    }
}

/// <summary>linear(flatten(x)) + 1, which describes itself to the exporter without the + 1: its ONNX file loads but computes
/// something else, as a wrong export rule would.</summary>
public sealed class MisdescribedModel : nn.Module<Tensor, Tensor>, IOnnxExportable
{
    private readonly nn.Module<Tensor, Tensor> flatten = nn.Flatten(), fc = nn.Linear(28 * 28, 10);

    /// <summary>Builds the layers.</summary>
    public MisdescribedModel() : base(nameof(MisdescribedModel)) => RegisterComponents();

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => fc.call(flatten.call(x)) + 1;

    /// <inheritdoc />
    public string EmitOnnx(OnnxEmitContext context, string input) => context.Emit(fc, context.Emit(flatten, input));
}
