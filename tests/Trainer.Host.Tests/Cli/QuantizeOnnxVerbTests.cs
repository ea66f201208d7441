using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer quantize --Export:Format=onnx`: the quantized model also written as ONNX QDQ and scored in ONNX Runtime.</summary>
public sealed class QuantizeOnnxVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Path_(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    [Fact]
    public void Observer_int8_writes_model_int8_onnx_whose_onnx_runtime_score_is_within_half_a_point_and_reports_it()
    {
        var (code, _, err) = _cli.Cli("run", "--Compression:Plugins:0=Quantizers", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=quantize",
            "--Quantization:Quantizer=observer", "--Quantization:Settings:calibration_batches=4", "--Export:Format=onnx");
        Assert.True(code == 0, err);

        var onnxPath = Path_("ckpt", "r", "quantize", "model.int8.onnx");
        var ops = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath)).Graph.Node.Select(n => n.OpType).ToList();
        Assert.Equal(5, ops.Count(op => op is "Conv" or "Gemm" or "MatMul"));  // 3 convs + 2 linears
        Assert.True(ops.Count(op => op == "QuantizeLinear") >= 5, string.Join(",", ops));
        using (var session = new InferenceSession(onnxPath)) Assert.Equal([-1, 1, 28, 28], session.InputMetadata["input"].Dimensions);
        var s = JsonDocument.Parse(File.ReadAllText(Path_("runs", "r", "quantize", "summary.json"))).RootElement;
        Assert.Equal(onnxPath, s.GetProperty("onnx").GetString());
        Assert.Equal(17, s.GetProperty("onnx_opset").GetInt32());
        Assert.Equal(new FileInfo(onnxPath).Length, s.GetProperty("onnx_bytes").GetInt64());
        // Accuracy is a fraction: half a point is 0.005.
        Assert.InRange(s.GetProperty("onnx_score_change").GetDouble(), -0.005, 0.005);
        Assert.InRange(s.GetProperty("onnx_max_abs_difference").GetDouble(), 0, 0.5);

        // An ONNX file already there is kept unless --resume, even when the quantized file is gone.
        File.Delete(Path_("ckpt", "r", "quantize", "quantized.trnq"));
        (code, _, err) = _cli.Cli("quantize", "--Compression:Plugins:0=Quantizers", "--Quantization:Quantizer=observer",
            "--Quantization:Settings:calibration_batches=2", "--Export:Format=onnx", $"--Model:Checkpoint={Path_("ckpt", "r", "best.ckpt")}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("model.int8.onnx", err);
        Assert.Contains("--resume", err);
    }

    [Fact]
    public void Binarized_activations_are_one_error_naming_the_layer_and_method_before_any_training()
    {
        var trained = _cli.Cli("train");
        Assert.True(trained.Code == 0, trained.Err);
        var (code, _, err) = _cli.Cli("quantize", "--Compression:Plugins:0=Quantizers", "--Quantization:Quantizer=bnn", "--Export:Format=onnx",
            $"--Model:Checkpoint={Path_("ckpt", "r", "best.ckpt")}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Binary", err);
        Assert.Contains("output quantizer", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(File.Exists(Path_("ckpt", "r", "quantize", "quantized.trnq")));
    }
}
