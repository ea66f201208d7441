using Microsoft.ML.OnnxRuntime;
using Trainer.Core.Data;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Tasks;
using Trainer.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>The check of an ONNX export on the task's validation samples: outputs compared, the task's score computed from
/// ONNX Runtime's outputs, and the files it refuses moved aside.</summary>
public sealed class OnnxTaskCheckTests : IDisposable
{
    private readonly OnnxScratch scratch = new();
    private readonly TinyTask task = new();

    public OnnxTaskCheckTests() => task.Configure(TaskContext.Empty);

    public void Dispose()
    {
        task.Dispose();
        scratch.Dispose();
    }

    /// <summary>conv → relu → flatten → linear for the tiny task's 3x8x8 inputs and 5 classes.</summary>
    private static nn.Module<Tensor, Tensor> TinyCnn(ulong seed = 4)
    {
        random.manual_seed((long)seed);
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5));
    }

    [Fact]
    public void Score_from_onnx_runtime_is_the_tasks_metric_on_onnx_runtimes_own_outputs()
    {
        using var model = TinyCnn();
        var export = OnnxExporter.Export(model, [1, 3, 8, 8], scratch.PathOf("model.onnx"));

        var result = OnnxTaskCheck.Verify(export.Path, model, task, new OnnxTaskCheckOptions { Samples = 100, BatchSize = 32 });

        // The first 100 of the 128 validation samples, in 4 batches of 32, 32, 32 and 4.
        Assert.Equal(100, result.Samples);
        Assert.Equal(4, result.Batches);
        Assert.InRange(result.MaxAbsDifference, 0, 1e-5);
        Assert.True(result.MaxAbsOutput > 0.01);
        Assert.Equal(17, result.Opset);
        Assert.Equal(new FileInfo(export.Path).Length, result.FileBytes);
        // TorchSharp's score is the task's own on the same samples; ONNX Runtime's is 1 - accuracy of its outputs, computed
        // here straight from an InferenceSession (no code of the check involved).
        Assert.Equal(task.ScoreOf(model, task.ScoreLoader(100, 32)), result.TorchSharpScore);
        Assert.Equal(ErrorFromSession(export.Path, 100), result.OnnxRuntimeScore, 12);
        Assert.InRange(result.OnnxRuntimeScore, 0.01, 0.99);   // an untrained model: a score that tells right from wrong outputs
    }

    private double ErrorFromSession(string path, int samples)
    {
        using var session = new InferenceSession(path);
        long wrong = 0, seen = 0;
        foreach (var batch in task.ScoreLoader(samples, 50).GetBatches(0))
        {
            using var scope = NewDisposeScope();
            var x = batch.Inputs.contiguous();
            using var input = OrtValue.CreateTensorValueFromMemory(x.data<float>().ToArray(), x.shape);
            using var outputs = session.Run(new RunOptions(), ["input"], [input], ["output"]);
            var logits = tensor(outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[0].GetTensorTypeAndShape().Shape);
            wrong += logits.argmax(1).ne(batch.Targets).sum().item<long>();
            seen += batch.Size;
        }
        return (double)wrong / seen;
    }

    [Fact]
    public void Outputs_beyond_the_tolerance_on_validation_samples_reject_the_file_and_move_it_aside()
    {
        using var model = TinyCnn();
        var export = OnnxExporter.Export(model, [1, 3, 8, 8], scratch.PathOf("model.onnx"));
        using (no_grad()) ((TorchSharp.Modules.Linear)((TorchSharp.Modules.Sequential)model)[3]).bias!.add_(0.01);

        var error = Assert.Throws<OnnxRuntimeRejectedException>(() => OnnxTaskCheck.Verify(export.Path, model, task));
        Assert.Contains("differs from TorchSharp's by 0.01", error.Message);
        Assert.Contains("the task 'tiny''s validation samples", error.Message);
        Assert.False(File.Exists(export.Path));
        Assert.Equal(export.Path + ".rejected", error.RejectedPath);
        Assert.True(File.Exists(error.RejectedPath));
    }

    [Fact]
    public void File_onnx_runtime_refuses_is_one_error_with_its_message_and_moved_aside()
    {
        using var model = TinyCnn();
        var path = scratch.PathOf("model.onnx");
        OnnxFiles.WriteRefused(path);

        var error = Assert.Throws<OnnxRuntimeRejectedException>(() => OnnxTaskCheck.Verify(path, model, task));
        Assert.Contains("ONNX Runtime refused", error.Message);
        Assert.Contains("No Op registered for NoSuchOperator", error.Message);
        Assert.Contains("moved to", error.Message);
        Assert.False(File.Exists(path));
        Assert.True(File.Exists(path + ".rejected"));
    }

    [Fact]
    public void Export_for_another_input_shape_than_the_tasks_is_rejected_naming_both_shapes()
    {
        random.manual_seed(4);
        using var model = nn.Sequential(nn.Conv2d(3, 4, 3, padding: 1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5));
        var export = OnnxExporter.Export(model, [1, 3, 4, 4], scratch.PathOf("model.onnx"));

        var error = Assert.Throws<OnnxRuntimeRejectedException>(() => OnnxTaskCheck.Verify(export.Path, model, task));
        Assert.Contains("takes an input of shape [-1,3,4,4], the task 'tiny' gives [1,3,8,8]", error.Message);
        Assert.True(File.Exists(error.RejectedPath));
    }

    [Fact]
    public void Model_runs_any_batch_and_refuses_an_input_of_another_shape_naming_both()
    {
        using var model = TinyCnn();
        var export = OnnxExporter.Export(model, [1, 3, 8, 8], scratch.PathOf("model.onnx"));
        using var ort = OnnxRuntimeSession.Open(export.Path);
        using var scope = NewDisposeScope();

        Assert.Equal([-1L, 3, 8, 8], ort.InputDimensions);
        var x = randn(7, 3, 8, 8);
        Assert.Equal([7L, 5], ort.Run(x).shape);
        using (no_grad()) Assert.True(ort.Run(x).allclose(model.call(x), rtol: 0, atol: 1e-5));
        var error = Assert.Throws<OnnxRuntimeSessionException>(() => ort.Run(randn(2, 1, 8, 8)));
        Assert.Contains("takes an input of shape [batch,3,8,8]; the data's is [2,1,8,8]", error.Message);
        Assert.Throws<FileNotFoundException>(() => OnnxRuntimeSession.Open(scratch.PathOf("missing.onnx")));
        Assert.True(File.Exists(export.Path));   // a file opened to run is never moved
    }

    [Fact]
    public void Latency_times_onnx_runtime_and_torchsharp_at_the_given_batch()
    {
        using var model = TinyCnn();
        var export = OnnxExporter.Export(model, [1, 3, 8, 8], scratch.PathOf("model.onnx"));
        using var ort = OnnxRuntimeSession.Open(export.Path);

        var both = OnnxRuntimeLatency.Measure(ort, [1, 3, 8, 8], model, rounds: 3, callsPerRound: 1);
        var alone = OnnxRuntimeLatency.Measure(ort, [6, 3, 8, 8], rounds: 3, callsPerRound: 1);

        Assert.Equal(1, both.Batch);
        Assert.True(both.OnnxRuntimeMs > 0 && both.TorchSharpMs > 0);
        Assert.Equal(both.TorchSharpMs / both.OnnxRuntimeMs, both.Speedup);
        Assert.Equal(6, alone.Batch);
        Assert.Null(alone.TorchSharpMs);
        Assert.Throws<OnnxRuntimeSessionException>(() => OnnxRuntimeLatency.Measure(ort, [1, 3, 9, 9]));
    }

    [Fact]
    public void Image_files_get_the_top_class_the_model_gives_the_tasks_own_validation_batch()
    {
        var data = TaskDataFiles.WriteImageFolder(scratch.Folder);
        using var images = new ImageFolderTask();
        images.Configure(new TaskContext(data, new Dictionary<string, string> { ["width"] = "4", ["image_size"] = "8" },
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        random.manual_seed(9);
        using var model = images.CreateModel();
        var export = OnnxExporter.Export(model, images.ExampleInputShape, scratch.PathOf("images.onnx"));
        using var ort = OnnxRuntimeSession.Open(export.Path);

        var files = OnnxImagePredictor.Files(Path.Combine(data, "val"));
        var predictions = OnnxImagePredictor.Predict(ort, images, files, batchSize: 3);

        // val/blue/0..3.png then val/red/0..3.png: the order of the task's validation split, so the model's argmax over the
        // task's own (decoded, normalised) validation batch is the expected class of each file.
        Assert.Equal(8, predictions.Count);
        Assert.Equal(files, predictions.Select(p => p.File));
        using var scope = NewDisposeScope();
        var batch = images.ValidationLoader(8).GetBatches(0).Single();
        Assert.Equal([0L, 0, 0, 0, 1, 1, 1, 1], batch.Targets.data<long>().ToArray());
        Tensor probabilities;
        using (no_grad()) { model.eval(); probabilities = model.call(batch.Inputs).softmax(1); }
        var (top, index) = probabilities.max(1);
        Assert.Equal(index.data<long>().ToArray().Select(i => (int)i), predictions.Select(p => p.ClassIndex));
        Assert.Equal(predictions.Select(p => images.ClassNames[p.ClassIndex]), predictions.Select(p => p.ClassName));
        for (int i = 0; i < 8; i++) Assert.Equal(top[i].item<float>(), predictions[i].Probability, 5);
        var empty = Directory.CreateDirectory(scratch.PathOf("empty")).FullName;
        Assert.Contains("holds no image", Assert.Throws<InvalidDataException>(() => OnnxImagePredictor.Files(empty)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => OnnxImagePredictor.Files(scratch.PathOf("missing")));
    }
}
