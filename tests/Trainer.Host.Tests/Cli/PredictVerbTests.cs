using System.Text.Json;
using Trainer.Core.Export.Onnx;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;
using Trainer.Tests.Shared;
using TorchSharp;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer predict`: an exported ONNX model run in ONNX Runtime on the task's validation data or on image files,
/// its score and latency reported, and each kind of bad input one error with the exit code of bad input.</summary>
public sealed class PredictVerbTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Work(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    private static JsonElement Json(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    [Fact]
    public void Predict_scores_the_runs_onnx_export_with_the_tasks_metric_and_times_batch_1_and_batch_n()
    {
        var (code, _, err) = _cli.Cli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--Export:Format=onnx");
        Assert.True(code == 0, err);
        var export = Json(Work("runs", "r", "export", "summary.json"));
        var trained = Json(Work("runs", "r", "summary.json")).GetProperty("metrics").GetProperty("val/accuracy").GetDouble();

        // Every validation sample (128 here) through ONNX Runtime, with the default: the run's own export.
        (code, _, err) = _cli.Cli("predict", "--Predict:BatchSize=16", "--Predict:LatencyRounds=3");
        Assert.True(code == 0, err);
        var all = Json(Work("runs", "r", "predict", "summary.json"));
        Assert.Equal(Work("ckpt", "r", "export", ExportJob.OnnxFileName), all.GetProperty("onnx").GetString());
        Assert.Equal("accuracy", all.GetProperty("score_name").GetString());
        Assert.Equal(128, all.GetProperty("samples").GetInt64());
        // The exported (BatchNorm-folded) model scores what training's validation measured, to one sample in 128.
        Assert.InRange(all.GetProperty("score").GetDouble(), trained - 1.0 / 128 - 1e-12, trained + 1.0 / 128 + 1e-12);
        Assert.Equal(16, all.GetProperty("batch_n").GetInt32());
        Assert.True(all.GetProperty("latency_ms_batch_1").GetDouble() > 0 && all.GetProperty("latency_ms_batch_n").GetDouble() > 0);
        Assert.Equal(1, all.GetProperty("threads").GetInt32());

        // The export's check ran on those same 128 samples (fewer than Export:OnnxCheckSamples): its ONNX Runtime score is
        // predict's, and TorchSharp's there is within one sample of it.
        Assert.Equal(128, export.GetProperty("onnx_check_samples").GetInt64());
        Assert.Equal(all.GetProperty("score").GetDouble(), export.GetProperty("onnx_runtime_score").GetDouble(), 12);
        Assert.InRange(Math.Abs(export.GetProperty("onnx_torchsharp_score").GetDouble() - export.GetProperty("onnx_runtime_score").GetDouble()), 0, 1.0 / 128 + 1e-12);
        Assert.InRange(export.GetProperty("onnx_max_abs_difference").GetDouble(), 0, 1e-4);
        Assert.True(export.GetProperty("onnx_runtime_latency_ms").GetDouble() > 0 && export.GetProperty("onnx_torchsharp_latency_ms").GetDouble() > 0);

        // Predict:Samples takes the first ones; the file is named explicitly this time.
        (code, _, err) = _cli.Cli("predict", $"--Predict:Onnx={Work("ckpt", "r", "export", ExportJob.OnnxFileName)}", "--Predict:Samples=40",
            "--Predict:LatencyRounds=2", "--Predict:Threads=2");
        Assert.True(code == 0, err);
        var first = Json(Work("runs", "r", "predict", "summary.json"));
        Assert.Equal(40, first.GetProperty("samples").GetInt64());
        Assert.Equal(2, first.GetProperty("threads").GetInt32());
    }

    [Fact]
    public void Predict_on_a_folder_of_images_gives_each_images_top_class()
    {
        var data = TaskDataFiles.WriteImageFolder(Work("data"));
        string[] task = ["--Task:Name=image-folder", $"--Data:Path={data}", "--Task:Settings:width=8", "--Task:Settings:image_size=8"];
        var (code, _, err) = _cli.Cli("run", [.. task, "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=export", "--Export:Format=onnx"]);
        Assert.True(code == 0, err);

        (code, _, err) = _cli.Cli("predict", [.. task, $"--Predict:Images={Path.Combine(data, "val")}", "--Predict:LatencyRounds=2"]);
        Assert.True(code == 0, err);
        var summary = Json(Work("runs", "r", "predict", "summary.json"));
        var predictions = summary.GetProperty("predictions").EnumerateArray().ToList();
        string[] expectedFiles = [.. from c in new[] { "blue", "red" } from i in Enumerable.Range(0, 4) select Path.Combine(data, "val", c, $"{i}.png")];
        Assert.Equal(expectedFiles, predictions.Select(p => p.GetProperty("file").GetString()));
        Assert.All(predictions, p => Assert.Equal(p.GetProperty("class_index").GetInt32() == 0 ? "blue" : "red", p.GetProperty("class_name").GetString()));
        Assert.All(predictions, p => Assert.InRange(p.GetProperty("probability").GetDouble(), 0.5, 1.0));   // top of two classes
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("score").ValueKind);

        // A folder without images is one error.
        Directory.CreateDirectory(Work("empty"));
        (code, _, err) = _cli.Cli("predict", [.. task, $"--Predict:Images={Work("empty")}"]);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("holds no image", err);
    }

    [Fact]
    public void Missing_onnx_file_is_one_error_naming_it()
    {
        var (code, _, err) = _cli.Cli("predict", "--Predict:Onnx=/nowhere/model.onnx");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("There is no ONNX file at '/nowhere/model.onnx'", err);

        (code, _, err) = _cli.Cli("predict");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains($"The run 'r' has no ONNX export at '{Work("ckpt", "r", "export", ExportJob.OnnxFileName)}'", err);

        (code, _, err) = _cli.Cli("predict", "--Trainer:RunName=");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains($"trainer predict found no exported ONNX model under '{Work("ckpt")}'", err);
    }

    [Fact]
    public void File_onnx_runtime_refuses_is_one_error_with_its_message_and_is_left_in_place()
    {
        Directory.CreateDirectory(_cli.Work);
        var path = OnnxFiles.WriteRefused(Work("refused.onnx"));

        var (code, _, err) = _cli.Cli("predict", $"--Predict:Onnx={path}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("ONNX Runtime refused", err);
        Assert.Contains("No Op registered for NoSuchOperator", err);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public void Model_whose_input_is_not_the_tasks_is_one_error_naming_both_shapes()
    {
        Directory.CreateDirectory(_cli.Work);
        torch.random.manual_seed(1);
        using (var model = torch.nn.Sequential(torch.nn.Linear(4, 2)))
            OnnxExporter.Export(model, [1, 4], Work("linear.onnx"));

        var (code, _, err) = _cli.Cli("predict", $"--Predict:Onnx={Work("linear.onnx")}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("takes an input of shape [batch,4], but the task 'fashion-mnist' gives [1,1,28,28]", err);

        (code, _, err) = _cli.Cli("predict", $"--Predict:Onnx={Work("linear.onnx")}", $"--Predict:Images={_cli.Work}");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("the task 'fashion-mnist' is not an image task", err);
    }

    [Fact]
    public void Invalid_predict_settings_are_bad_input_naming_the_key()
    {
        var (code, _, err) = _cli.Cli("predict", "--Predict:BatchSize=0", "--Predict:Samples=-1");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("Predict:BatchSize = '0' is invalid", err);
        Assert.Contains("Predict:Samples = '-1' is invalid", err);
    }
}
