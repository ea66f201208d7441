using Trainer.Host.Cli;

namespace Trainer.Host.Tests.Cli;

/// <summary>The Task section: a built-in task by name, a user's task by assembly and type, and the task's own settings;
/// each mistake is one error naming the key, before any work.</summary>
public sealed class TaskConfigurationTests : IDisposable
{
    private readonly CompressVerbTests _cli = new();

    public void Dispose() => _cli.Dispose();

    private static string PluginAssembly => Path.Combine(CompressVerbTests.PluginsBin, "CustomCompressor", "CustomCompressor.dll");

    [Theory]
    [InlineData(new[] { "--Task:Name=cifar" }, "Task:Name = 'cifar' is not a built-in task; built-in: cifar10-binary, fashion-mnist, image-folder, tabular")]
    [InlineData(new[] { "--Task:Settings:colour=red" }, "Task:Settings:colour")]
    [InlineData(new[] { "--Task:Type=My.Task" }, "needs both Task:Assembly")]
    [InlineData(new[] { "--Task:Assembly=/nowhere/task.dll", "--Task:Type=My.Task" }, "no file at /nowhere/task.dll")]
    public void A_task_mistake_is_one_error_naming_the_key_and_no_run_folder_is_made(string[] args, string expected)
    {
        var (code, _, err) = _cli.Cli("train", args);

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains(expected, err);
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(Path.Combine(_cli.Work, "ckpt")));
    }

    [Fact]
    public void A_type_that_is_not_a_task_says_what_it_lacks()
    {
        // The plugin's folder holds no host assemblies, so it loads like a task assembly would.
        var (code, _, err) = _cli.Cli("train", $"--Task:Assembly={PluginAssembly}", "--Task:Type=Examples.CustomCompressor.WeightRoundingCompressor");

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("is not a task: it does not derive from Trainer.Core.Tasks.TrainingTask", err);
        Assert.Contains("CreateTrainer", err);

        (code, _, err) = _cli.Cli("train", $"--Task:Assembly={PluginAssembly}", "--Task:Type=Examples.CustomCompressor.NoSuchTask");
        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("is not a type of CustomCompressor.dll", err);
    }

    [Fact]
    public void A_task_folder_that_bundles_the_host_assemblies_is_refused_by_name()
    {
        // The test's own folder holds TorchSharp, Abstractions and Core: what a task must not ship.
        var (code, _, err) = _cli.Cli("train", $"--Task:Assembly={typeof(TaskConfigurationTests).Assembly.Location}", "--Task:Type=X.Y");

        Assert.Equal(TrainerCli.BadInput, code);
        Assert.Contains("holds its own TorchSharp.dll", err);
        Assert.Contains("Trainer.Core.dll", err);
    }
}
