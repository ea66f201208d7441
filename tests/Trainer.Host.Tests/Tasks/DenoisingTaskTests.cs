using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Abstractions;
using Trainer.Core.Checkpoints;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Tasks;
using Trainer.Core.Tests.TensorBoard;
using Trainer.Host.Cli;
using Trainer.Host.Jobs;
using Trainer.Host.Tests.Cli;
using static TorchSharp.torch;

namespace Trainer.Host.Tests.Tasks;

/// <summary>
/// A task of one's own through every verb: examples/DenoisingTask (noisy Fashion-MNIST in, clean image out, scored by
/// per-pixel MSE, lower is better) loaded by Task:Assembly + Task:Type, its model by Model:Assembly + Model:Type or, with
/// the Model section empty, the task's own. Nothing
/// in the host may assume classification: the best checkpoint, the compress, export and quantize stages and their
/// figures all follow the task's score.
/// </summary>
public sealed class DenoisingTaskTests : IDisposable
{
    private static readonly string ExamplesBin = typeof(DenoisingTaskTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ExamplesBin").Value!;

    private static readonly string TaskAssembly = Path.Combine(ExamplesBin, "DenoisingTask", "DenoisingTask.dll");
    private const string TaskType = "Examples.DenoisingTask.DenoisingFashionTask", ModelType = "Examples.DenoisingTask.Denoiser";

    /// <summary>MACs of the Denoiser on 1×28×28: convs 1→32 (28²), 32→64 and 64→32 (14²), 32→1 (28²).</summary>
    private const long DenoiserMacs = 7_676_928;

    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private (int Code, string Out, string Err) Cli(string verb, params string[] extra) =>
        TaskCli(verb, [$"--Model:Assembly={TaskAssembly}", $"--Model:Type={ModelType}", .. extra]);

    /// <summary>The task's verbs with no Model section: the model is the task's own.</summary>
    private (int Code, string Out, string Err) TaskCli(string verb, params string[] extra) => _cli.Cli(verb,
    [
        $"--Task:Assembly={TaskAssembly}", $"--Task:Type={TaskType}", "--Trainer:LearningRate=0.01", .. extra,
    ]);

    private string Work(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    private static nn.Module<Tensor, Tensor> NewDenoiser() => ModelCatalog.CreateFromAssembly(TaskAssembly, ModelType);

    [Fact]
    public void Train_compress_export_and_quantize_follow_the_tasks_mse_score()
    {
        var (code, _, err) = Cli("run", "--Trainer:Epochs=2",
            "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export", "--Pipeline:Stages:3=quantize",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=Quantizers", "--Compression:Compressor=channel-pruning",
            "--Compression:Settings:method=l1", "--Compression:Allocation=compressor",
            "--Quantization:Quantizer=observer", "--Quantization:Settings:calibration_batches=2");
        Assert.True(code == 0, err);

        // Trainer:MonitorMetric/MonitorMode are empty: the best checkpoint is the epoch of least val/mse.
        var valMse = Directory.GetFiles(Work("runs", "r"), "events.out.tfevents.*").SelectMany(TfEventReader.ReadFile)
            .SelectMany(e => e.Values).Where(v => v.Tag == "val/mse").Select(v => (double)v.SimpleValue!.Value).ToList();
        Assert.Equal(2, valMse.Count);
        Assert.NotEqual(valMse[0], valMse[1]);
        using (var trained = NewDenoiser())
        {
            var best = CheckpointFile.LoadWeights(Work("ckpt", "r", "best.ckpt"), trained);
            Assert.Equal(valMse.Min(), best.BestMetric!.Value, 1e-6);
            Assert.Equal(best.BestMetric.Value, best.Metrics["val/mse"]);
            Assert.Contains("val/l1", best.Metrics.Keys);
            Assert.DoesNotContain(best.Metrics.Keys, k => k.Contains("accuracy"));
        }

        // Channel pruning cut the MACs; the figures it recorded are the task's MSE, as the task itself measures it.
        var compressPath = Work("ckpt", "r", "compress", CompressJob.ManifestFileName);
        var compressed = CompressionManifest.Load(compressPath);
        Assert.Equal(DenoiserMacs, compressed.Original.Macs);
        Assert.True(compressed.Current.Macs < compressed.Original.Macs, $"MACs {compressed.Current.Macs}");
        Assert.Equal("channel-pruning", compressed.Iterations.Single().Compressor);
        var (original, finetuned) = ScoresIn(compressPath);
        Assert.All(new[] { original, finetuned }, s => Assert.True(double.IsFinite(s) && s > 0, $"score {s}"));
        using var compressedModel = CompressedModel.Load(compressPath, NewDenoiser, out _);
        Assert.Equal(finetuned, TaskMse(compressedModel), 1e-5);

        // The export folds the three BatchNorms and reloads to the compressed model's outputs.
        var exportPath = Work("ckpt", "r", "export", ExportJob.ManifestFileName);
        var exported = CompressionManifest.Load(exportPath);
        Assert.Equal(["channel-pruning", ExportJob.Step], exported.Iterations.Select(i => i.Compressor));
        using var exportedModel = CompressedModel.Load(exportPath, NewDenoiser, out _);
        Assert.DoesNotContain(exportedModel.named_modules(), m => m.module is TorchSharp.Modules.BatchNorm2d);
        compressedModel.eval();
        exportedModel.eval();
        using (var input = randn([4, 1, 28, 28], generator: new Generator(3)))
        using (inference_mode())
            Assert.True((compressedModel.call(input) - exportedModel.call(input)).abs().max().item<float>() < 1e-4);

        // The quantized model is written, smaller than the float one, and every figure of its report is a number.
        Assert.True(File.Exists(Work("ckpt", "r", "quantize", QuantizeJob.ExportFileName)));
        var quantized = JsonDocument.Parse(File.ReadAllText(Work("runs", "r", "quantize", "summary.json"))).RootElement;
        Assert.InRange(quantized.GetProperty("size_ratio").GetDouble(), 0.1, 0.6);
        Assert.Equal(4, quantized.GetProperty("layers").GetInt32());
        Assert.All(quantized.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number),
            p => Assert.True(double.IsFinite(p.Value.GetDouble()), p.Name));
    }

    [Fact]
    public void Low_rank_factorizes_the_tasks_own_model_and_its_manifest_reloads_through_the_task()
    {
        var (code, _, err) = TaskCli("run", "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress",
            "--Compression:Plugins:0=LowRank", "--Compression:Compressor=low-rank", "--Compression:Allocation=compressor");
        Assert.True(code == 0, err);

        var manifestPath = Work("ckpt", "r", "compress", CompressJob.ManifestFileName);
        var manifest = CompressionManifest.Load(manifestPath);
        Assert.Equal(("fashion-denoising-model", ""), (manifest.Model.Name, manifest.Model.Type));   // the task's model, by the task's name
        var iteration = manifest.Iterations.Single();
        Assert.Equal("low-rank", iteration.Compressor);
        Assert.NotEmpty(iteration.Edits);
        Assert.True(manifest.Current.Macs < manifest.Original.Macs, $"MACs {manifest.Current.Macs} of {manifest.Original.Macs}");
        var (original, finetuned) = ScoresIn(manifestPath);
        Assert.All(new[] { original, finetuned }, s => Assert.True(double.IsFinite(s) && s > 0, $"score {s}"));

        // The manifest names the task's model and records the input shape: the configured task rebuilds it, no Model section.
        var json = Work("reloaded.json");
        (code, _, err) = TaskCli("analyze flops", $"--Model:Manifest={manifestPath}", $"--Analyze:OutputDir={Work("reports")}", "--json", json);
        Assert.True(code == 0, err);
        Assert.Equal(manifest.Current.Macs, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());
    }

    [Theory]
    [InlineData("--Task:Settings:noise_std=-1", "Task:Settings:noise_std = '-1' is invalid")]
    [InlineData("--Task:Settings:noise_std=loud", "Task:Settings:noise_std = 'loud' is invalid")]
    [InlineData("--Task:Settings:colour=red", "Task:Settings:colour")]
    public void A_bad_task_setting_is_one_error_naming_the_key_before_any_work(string setting, string expected)
    {
        var (code, _, err) = Cli("train", setting);

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Work("ckpt")));
    }

    [Fact]
    public void The_repositorys_appsettings_with_its_task_section_is_a_valid_configuration_file()
    {
        var appsettings = Path.GetFullPath(Path.Combine(ExamplesBin, "..", "..", "appsettings.json"));
        var json = Work("flops.json");

        var (code, _, err) = Cli("analyze flops", "--config", appsettings, $"--Analyze:OutputDir={Work("reports")}",
            "--Model:InputShape=1,1,28,28", "--json", json);

        Assert.True(code == 0, err);
        Assert.Equal(DenoiserMacs, JsonDocument.Parse(File.ReadAllText(json)).RootElement.GetProperty("total_flops").GetInt64());
    }

    /// <summary>The task's score of the original model and after the last finetuning, read from the manifest without
    /// naming the field: the one figure of a metrics entry that is not MACs, parameters or latency.</summary>
    private static (double Original, double Finetuned) ScoresIn(string manifestPath)
    {
        var root = JsonDocument.Parse(File.ReadAllText(manifestPath)).RootElement;
        static double Score(JsonElement metrics) => metrics.EnumerateObject()
            .Single(p => p.Name is not ("macs" or "params" or "latency_ms")).Value.GetDouble();
        return (Score(root.GetProperty("original")), Score(root.GetProperty("iterations").EnumerateArray().Last().GetProperty("after_finetune")));
    }

    /// <summary>The denoising task's own score of <paramref name="model"/> on the validation data the runs used (the
    /// synthetic set is seeded, so a new copy holds the same images).</summary>
    private static double TaskMse(nn.Module<Tensor, Tensor> model)
    {
        using var data = new SyntheticFashionMnist();
        var type = AssemblyLoadContext.Default.LoadFromAssemblyPath(TaskAssembly).GetType(TaskType)!;
        using var task = (TrainingTask)Activator.CreateInstance(type)!;
        task.Configure(new TaskContext(data.Directory, new Dictionary<string, string>(), NullLogger.Instance));
        Assert.Equal("mse", task.Score.Name);
        Assert.False(task.Score.HigherIsBetter);
        IBatchLoader loader = task.ValidationLoader(64);
        using var lease = loader as IDisposable;
        return task.ScoreOf(model, loader);
    }
}
