using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Plugins.Quantizers;
using Trainer.Core.Models;
using Trainer.Core.Quantization;
using Trainer.Core.Training;
using Trainer.Tests.Shared;
using TorchSharp;
using static TorchSharp.torch;

namespace Quantizers.Tests;

/// <summary>The quantize loop as library calls: a task of the test's own (its trainer, a lower-is-better score), a quantizer
/// plugin, Core's <see cref="TaskQuantization"/>.</summary>
public sealed class TaskQuantizationTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "trainer-quantization-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    // Widths of 16: with 8-channel convs, QAT finetuning at 2 threads turned conv1's weights to NaN in about one run of ten on a
    // Zen 5 EPYC with oneDNN and never with libtorch's own kernels or 1 thread (docs/cpu-portability.md, "open").
    private static nn.Module<Tensor, Tensor> NewNet() => nn.Sequential(
        ("conv1", nn.Conv2d(3, 16, 3, padding: 1)), ("bn1", nn.BatchNorm2d(16)), ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(16, 16, 3, padding: 1)), ("relu2", nn.ReLU()), ("flatten", nn.Flatten()), ("fc", nn.Linear(16 * 4 * 4, 5)));

    private (TinyTask Task, LoadedModel Model, TrainerRecipe Recipe) Trained()
    {
        var task = new TinyTask();
        task.Configure(Trainer.Core.Tasks.TaskContext.Empty);
        torch.manual_seed(1);
        var model = LoadedModel.Of("tiny-seq", NewNet, task.ExampleInputShape);
        var recipe = new TrainerRecipe();
        recipe.Create(task, new TrainingRunSpec(model.Network, task.TrainLoader(32, 0, 1), task.ValidationLoader(64),
            Path.Combine(_dir, "runs", "train"), Path.Combine(_dir, "ckpt", "train"), Epochs: 2, LearningRate: 0.05), NullLoggerFactory.Instance).Run();
        return (task, model, recipe);
    }

    private static TaskQuantization Quantization(TinyTask task, TrainerRecipe recipe, Dictionary<string, string>? settings = null) =>
        new(task, new QatQuantizer(), new TaskQuantizationOptions { Settings = settings ?? new() { ["bits"] = "8" }, FinetuneEpochs = 1 },
            recipe, NullLoggerFactory.Instance);

    [Fact]
    public void Quantization_finetunes_with_the_tasks_trainer_exports_a_smaller_file_scored_by_the_task_and_a_resume_measures_it_again()
    {
        var (task, model, recipe) = Trained();
        using var taskLease = task;
        using var network = model.Network;
        var run = new QuantizationRun(Path.Combine(_dir, "ckpt", "quantize"), Path.Combine(_dir, "runs", "quantize"), BatchSize: 32, EvalBatchSize: 64);
        var floatWeights = Path.Combine(_dir, "float.weights");
        network.save(floatWeights);                                                          // the run changes the model in place

        var summary = Quantization(task, recipe).Run(model, run);

        Assert.Equal(task.Score, summary.Score);
        Assert.Equal(3, summary.Layers);                                                     // conv1, conv2, fc
        Assert.All(new[] { summary.FloatScore, summary.CalibratedScore, summary.QuantizedScore }, s => Assert.InRange(s, 0, 1));
        Assert.True(summary.QuantizedScore < 0.8, $"error {summary.QuantizedScore}: the quantized model still learned the task");
        // 1 byte per weight instead of 4; on a model this small the per-tensor headers take a share, so only "smaller" is certain.
        Assert.True(summary.ExportBytes < summary.FloatBytes, $"{summary.ExportBytes} bytes quantized, {summary.FloatBytes} float");
        Assert.True(File.Exists(Path.Combine(run.CheckpointDir, "finetune", "best.ckpt")));   // finetuned by the task's trainer
        Assert.Equal(summary.CalibratedScore, CalibrationRecord.Read(run.CheckpointDir));

        using var fresh = NewNet();
        fresh.load(floatWeights);
        var again = Assert.Throws<InvalidOperationException>(() => Quantization(task, recipe).Run(model with { Network = fresh }, run));
        Assert.Contains("already holds a quantized model", again.Message);

        var resumed = Quantization(task, recipe).Run(model with { Network = fresh }, run with { Resume = true });
        Assert.Equal(summary.QuantizedScore, resumed.QuantizedScore);
        Assert.Equal(summary.CalibratedScore, resumed.CalibratedScore);
        Assert.Equal(summary.ExportBytes, resumed.ExportBytes);
    }

    [Fact]
    public void A_setting_the_quantizer_refuses_is_one_error_naming_the_quantizer_and_the_setting()
    {
        var (task, model, recipe) = Trained();
        using var taskLease = task;
        using var network = model.Network;
        var run = new QuantizationRun(Path.Combine(_dir, "ckpt", "bad"), Path.Combine(_dir, "runs", "bad"));

        var e = Assert.Throws<QuantizationSettingsException>(() => Quantization(task, recipe, new() { ["bits"] = "17" }).Run(model, run));

        Assert.StartsWith("quantizer 'qat': Quantization:Settings:bits is '17'", e.Message);
        Assert.False(File.Exists(Path.Combine(run.CheckpointDir, TaskQuantization.ExportFileName)));
    }
}
