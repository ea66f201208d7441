using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;

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
    public void Unknown_export_format_is_bad_input_naming_the_accepted_ones()
    {
        var (code, _, err) = _cli.Cli("export", "--Export:Format=tflite");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Export:Format = 'tflite' is invalid; accepted: inference-form, onnx", err);
    }
}
