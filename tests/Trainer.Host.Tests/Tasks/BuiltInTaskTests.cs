using Trainer.Abstractions.Tasks;
using Trainer.Core.Compression;
using Trainer.Host.Jobs;
using Trainer.Host.Tests.Cli;
using Trainer.Tests.Shared;

namespace Trainer.Host.Tests.Tasks;

/// <summary>
/// The built-in tasks from configuration alone: `trainer run` with Task:Name, Data:Path and the task's settings trains the
/// task's own model on data written in the task's format, prunes it, finetunes it and exports it, and every figure it
/// records is the task's own score.
/// </summary>
public sealed class BuiltInTaskTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private string Work(params string[] parts) => Path.Combine([_cli.Work, .. parts]);

    [Theory]
    [InlineData("tabular", "mse", ScoreDirection.LowerIsBetter)]
    [InlineData("image-folder", "accuracy", ScoreDirection.HigherIsBetter)]
    [InlineData("cifar10-binary", "accuracy", ScoreDirection.HigherIsBetter)]
    public void A_built_in_task_runs_train_compress_and_export_from_configuration(string task, string score, ScoreDirection direction)
    {
        var data = Work("data");
        string[] settings = task switch
        {
            "tabular" => [$"--Data:Path={TaskDataFiles.WriteCsv(data, classes: false)}", "--Task:Settings:objective=regression", "--Task:Settings:hidden=16,16"],
            "image-folder" => [$"--Data:Path={TaskDataFiles.WriteImageFolder(data)}", "--Task:Settings:width=8", "--Task:Settings:image_size=8"],
            _ => [$"--Data:Path={TaskDataFiles.WriteCifar(data)}", "--Task:Settings:width=8"],
        };
        var (code, _, err) = _cli.Cli("run",
        [
            $"--Task:Name={task}", .. settings, "--Trainer:Epochs=2",
            "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export",
            "--Compression:Plugins:0=ChannelPruning", "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1",
            "--Compression:Allocation=compressor", "--Compression:TargetFlopsRatio=0.7",
        ]);
        Assert.True(code == 0, err);

        var compressed = CompressionManifest.Load(Work("ckpt", "r", "compress", CompressJob.ManifestFileName));
        Assert.Equal(new TaskScore(score, direction), compressed.Score);
        Assert.Equal($"{task}-model", compressed.Model.Name);
        Assert.True(compressed.Current.Macs <= 0.7 * compressed.Original.Macs, $"MACs {compressed.Current.Macs} of {compressed.Original.Macs}");
        Assert.True(double.IsFinite(compressed.Original.Score) && double.IsFinite(compressed.Current.Score));
        Assert.True(File.Exists(Work("ckpt", "r", "compress", "iteration-1", "best.ckpt")), "finetuned by the task's trainer");

        var exported = CompressionManifest.Load(Work("ckpt", "r", "export", ExportJob.ManifestFileName));
        Assert.Equal(["channel-pruning", ExportJob.Step], exported.Iterations.Select(i => i.Compressor));
        Assert.Equal(compressed.Current.Macs, exported.Current.Macs);
    }
}
