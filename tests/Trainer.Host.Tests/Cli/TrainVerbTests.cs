using System.Text.Json;
using Trainer.Core.Tests.TensorBoard;
using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

public class TrainVerbTests : IDisposable
{
    private readonly SyntheticFashionMnist _data = new();
    private readonly string _work = Path.Combine(Path.GetTempPath(), "trainer-host-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        _data.Dispose();
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    private (int Code, string Out, string Err) Train(params string[] extra) => TrainRun("t", extra);

    private (int Code, string Out, string Err) TrainRun(string runName, params string[] extra)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        string[] args =
        [
            "train", $"--Data:Path={_data.Directory}", $"--Trainer:LogDir={_work}/runs", $"--Trainer:CheckpointDir={_work}/ckpt",
            $"--Trainer:RunName={runName}", "--Trainer:BatchSize=32", "--Trainer:EvalBatchSize=64", "--Trainer:LearningRate=0.05",
            "--Trainer:LogEveryNSteps=4", .. extra,
        ];
        var code = TrainerCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private JsonElement Summary(string runName = "t") =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "runs", runName, "summary.json"))).RootElement;

    [Fact]
    public void Train_writes_checkpoints_tensorboard_events_and_a_summary()
    {
        var (code, _, err) = Train("--Trainer:Epochs=2");
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(_work, "ckpt", "t", "last.ckpt")));
        Assert.True(File.Exists(Path.Combine(_work, "ckpt", "t", "best.ckpt")));
        var events = TfEventReader.ReadDirectory(Path.Combine(_work, "runs", "t"));
        long[] StepsOf(string tag) => events.Where(e => e.Values.Any(v => v.Tag == tag)).Select(e => e.Step).ToArray();
        Assert.Equal([4, 8, 12, 16], StepsOf("train/total_loss"));  // LogEveryNSteps=4, 8 steps per epoch
        Assert.Equal([1, 2], StepsOf("val/accuracy"));
        Assert.Equal([1, 2], StepsOf("val/total_loss"));
        Assert.Equal([1, 2], StepsOf("lr"));
        Assert.Equal([1, 2], StepsOf("time/epoch_seconds"));
        Assert.Equal([1, 2], StepsOf("weights/fc2.weight"));
        var summary = Summary();
        Assert.Equal(2, summary.GetProperty("epochs").GetInt32());
        Assert.Equal(16, summary.GetProperty("steps").GetInt64()); // 256 samples / 32 per batch * 2 epochs
        Assert.True(summary.GetProperty("metrics").GetProperty("val/accuracy").GetDouble() > 0.3);
    }

    [Fact]
    public void A_second_run_with_the_same_name_refuses_to_overwrite_and_resume_continues_it()
    {
        Assert.Equal(0, Train("--Trainer:Epochs=1").Code);
        var checkpoint = Path.Combine(_work, "ckpt", "t", "last.ckpt");
        var before = File.ReadAllBytes(checkpoint);

        var (code, _, err) = Train("--Trainer:Epochs=1");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("already has checkpoints", err);
        Assert.Contains("--resume", err);
        Assert.Equal(before, File.ReadAllBytes(checkpoint));

        Assert.Equal(0, Train("--Trainer:Epochs=2", "--resume").Code);
        Assert.Equal(2, Summary().GetProperty("epochs").GetInt32());
        Assert.Equal(16, Summary().GetProperty("steps").GetInt64());

        // An unbroken 2-epoch run ends on exactly the same numbers: same weights, same schedule.
        Assert.Equal(0, TrainRun("unbroken", "--Trainer:Epochs=2").Code);
        foreach (var metric in new[] { "val/total_loss", "val/accuracy", "train/epoch_total_loss", "lr" })
            Assert.Equal(Summary("unbroken").GetProperty("metrics").GetProperty(metric).GetDouble(),
                         Summary().GetProperty("metrics").GetProperty(metric).GetDouble());
    }

    [Fact]
    public void A_missing_data_folder_fails_with_the_key_the_path_and_the_package()
    {
        var (code, _, err) = Train("--Data:Path=/no/such/folder");
        Assert.Equal(TrainerCli.JobFailed, code);
        Assert.Contains("Data:Path", err);
        Assert.Contains("/no/such/folder", err);
        Assert.Contains("dataset-fashion-mnist", err);
    }

    [Theory]
    [InlineData("--Trainer:Epochs=-1", "Trainer:Epochs = '-1' is invalid; accepted: a positive integer.")]
    [InlineData("--Trainer:Optimizer=rmsprop", "Trainer:Optimizer = 'rmsprop' is invalid; accepted: sgd, adam, adamw.")]
    [InlineData("--Trainer:Scheduler=linear", "accepted: none, step, cosine, plateau")]
    [InlineData("--Trainer:Device=cuda", "Trainer:Device = 'cuda' but this build has no CUDA")]
    [InlineData("--Trainer:Device=tpu", "accepted: cpu, cuda, cuda:<index>")]
    [InlineData("--Trainer:LogDir=/proc/forbidden", "Trainer:LogDir = '/proc/forbidden' is not a writable folder")]
    [InlineData("--Trainer:Epoch=3", "unknown configuration key(s) 'Epoch' in section Trainer")]
    [InlineData("--Trainer:Epochs=three", "Failed to convert configuration value 'three' at 'Trainer:Epochs'")]
    [InlineData("--Data:SubsetRatio=0", "Data:SubsetRatio = '0' is invalid")]
    public void Bad_configuration_stops_before_any_work_with_one_line_naming_the_key(string arg, string expected)
    {
        var (code, _, err) = Train(arg);
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(Path.Combine(_work, "ckpt", "t")));
    }

    [Fact]
    public void Help_lists_the_verbs_and_an_unknown_verb_is_refused()
    {
        var output = new StringWriter();
        Assert.Equal(0, TrainerCli.Run(["--help"], output, new StringWriter()));
        Assert.Contains("train ", output.ToString());
        Assert.Contains("--resume", output.ToString());

        var error = new StringWriter();
        Assert.Equal(TrainerCli.BadInput, TrainerCli.Run(["fly"], new StringWriter(), error));
        Assert.Contains("unknown verb 'fly'. Verbs: train", error.ToString());
    }
}
