using System.Diagnostics;
using System.Text.Json;
using Trainer.Core.Search.Trials;
using Trainer.Tests.Shared;

namespace Trainer.Core.Tests.Search.Trials;

/// <summary>SlurmTrialRunner against the real one-node cluster. Each trial is a small shell script that reads x from
/// its spec and writes {"x", "square", "cube"}, so results are checked exactly; a spec's mode makes it fail once, fail
/// always, kill its own task (lost) or sleep. A sleep ended by a signal ends the script without a result: with
/// proctrack/linuxproc, scancel signals the task's processes one by one, and the shell can outlive the sleep it waited on.</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SlurmTrialRunnerTests : IDisposable
{
    private const string TrialScript = """
        #!/bin/sh
        # usage: trial.sh <spec> --result <result>
        spec="$1"; result="$3"
        x=$(sed -n 's/.*"x": *\(-\{0,1\}[0-9]*\).*/\1/p' "$spec")
        mode=$(sed -n 's/.*"mode": *"\([a-z-]*\)".*/\1/p' "$spec")
        case "$mode" in
          fail-once) if [ ! -e "$spec.tried" ]; then : > "$spec.tried"; echo "first attempt of x=$x fails on purpose" >&2; exit 3; fi ;;
          lost-once) if [ ! -e "$spec.tried" ]; then : > "$spec.tried"; kill -9 $PPID; exit 1; fi ;;
          always-fail) echo "trial x=$x cannot succeed" >&2; exit 2 ;;
          no-result) exit 0 ;;
          sleep) : > "$spec.started"; sleep 60 || exit 1 ;;
          threads) printf '{"threads": "%s", "own": "%s", "cpus": "%s"}\n' "$OMP_NUM_THREADS" "$Own__Threads" "$SLURM_CPUS_PER_TASK" > "$result"; exit 0 ;;
        esac
        printf '{"x": %d, "square": %d, "cube": %d}\n' "$x" $((x * x)) $((x * x * x)) > "$result.tmp" && mv "$result.tmp" "$result"

        """;

    private readonly string root = Path.Combine(Path.GetTempPath(), $"slurm-runner-{Guid.NewGuid():N}");
    private readonly TrialCommand command;

    public SlurmTrialRunnerTests(SlurmCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster); // the collection fixture has started the cluster
        Directory.CreateDirectory(root);
        var script = Path.Combine(root, "trial.sh");
        File.WriteAllText(script, TrialScript);
        command = new TrialCommand("/bin/sh", [script]);
    }

    public void Dispose()
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [Fact]
    public void BatchOnSlurm_WritesTheResultsTheSameCommandWritesLocally()
    {
        var xs = new[] { 3, -2, 0, 7, 11, 5 };
        var trials = Specs("ok", xs.Select(x => (x, "ok")).ToArray());

        var outcomes = Runner(maxParallel: 2).Run(trials);

        Assert.Equal(Enumerable.Range(0, xs.Length), outcomes.Select(outcome => outcome.Index));
        Assert.All(outcomes, outcome => Assert.Equal((true, 1, (string?)null), (outcome.Succeeded, outcome.Attempts, outcome.Error)));
        var local = Specs("local", xs.Select(x => (x, "ok")).ToArray());
        foreach (var trial in local) RunLocally(trial);
        for (var i = 0; i < xs.Length; i++)
        {
            Assert.Equal(File.ReadAllText(local[i].ResultPath), File.ReadAllText(trials[i].ResultPath));
            using var result = JsonDocument.Parse(File.ReadAllText(trials[i].ResultPath));
            Assert.Equal(xs[i], result.RootElement.GetProperty("x").GetInt32());
            Assert.Equal(xs[i] * xs[i], result.RootElement.GetProperty("square").GetInt32());
            Assert.Equal(xs[i] * xs[i] * xs[i], result.RootElement.GetProperty("cube").GetInt32());
        }
    }

    [Fact]
    public void TaskFailingItsFirstAttempt_IsResubmittedAndSucceedsOnItsSecond()
    {
        var trials = Specs("retry", [(4, "ok"), (6, "fail-once"), (8, "ok")]);

        var outcomes = Runner().Run(trials);

        Assert.Equal([1, 2, 1], outcomes.Select(outcome => outcome.Attempts));
        Assert.All(outcomes, outcome => Assert.True(outcome.Succeeded));
        Assert.Null(outcomes[1].Error);
        Assert.Equal("""{"x": 6, "square": 36, "cube": 216}""", File.ReadAllText(trials[1].ResultPath).Trim());
    }

    [Fact]
    public void TaskLostWithoutAnExitRecord_IsResubmittedAndSucceeds()
    {
        // The trial kills its own batch script, as a node failure or a kill -9 would: the task leaves the queue
        // without recording an exit code.
        var trials = Specs("lost", [(2, "lost-once"), (3, "ok")]);

        var outcomes = Runner().Run(trials);

        Assert.Equal([(true, 2), (true, 1)], outcomes.Select(outcome => (outcome.Succeeded, outcome.Attempts)));
        Assert.Equal("""{"x": 2, "square": 4, "cube": 8}""", File.ReadAllText(trials[0].ResultPath).Trim());
    }

    [Fact]
    public void TaskAlwaysFailing_IsReportedByItsIndexWithItsErrorAfterMaxAttempts()
    {
        var trials = Specs("fail", [(1, "ok"), (9, "always-fail"), (5, "no-result")]);

        var outcomes = Runner(maxAttempts: 2).Run(trials);

        Assert.Equal([(true, 1), (false, 2), (false, 2)], outcomes.Select(outcome => (outcome.Succeeded, outcome.Attempts)));
        Assert.Null(outcomes[0].Error);
        Assert.StartsWith("Trial 1 (attempt 2, spec ", outcomes[1].Error);
        Assert.Contains("exited with code 2", outcomes[1].Error);
        Assert.EndsWith("trial x=9 cannot succeed", outcomes[1].Error);
        Assert.Contains("exited with code 0 but wrote no result", outcomes[2].Error);
        Assert.False(File.Exists(trials[1].ResultPath));
    }

    [Fact]
    public void TaskExitingWithANoRetryCode_IsReportedAfterOneAttempt()
    {
        var trials = Specs("no-retry", [(9, "always-fail")]);

        var outcomes = new SlurmTrialRunner(command, Options() with { NoRetryExitCodes = [2] }).Run(trials);

        Assert.Equal((false, 1), (outcomes[0].Succeeded, outcomes[0].Attempts));
        Assert.Contains("exited with code 2", outcomes[0].Error);
    }

    [Fact]
    public void CpusPerTask_IsTheTasksCpuCountAndItsThreadCount()
    {
        var trials = Specs("threads", [(0, "threads")]);

        var outcomes = new SlurmTrialRunner(command, Options() with { CpusPerTask = 2, ThreadVariables = ["OMP_NUM_THREADS", "Own__Threads"] }).Run(trials);

        Assert.True(outcomes[0].Succeeded, outcomes[0].Error);
        Assert.Equal("""{"threads": "2", "own": "2", "cpus": "2"}""", File.ReadAllText(trials[0].ResultPath).Trim());
    }

    [Fact]
    public void CancellingTheRun_ScancelsTheArray()
    {
        var jobName = $"cancel-{Guid.NewGuid():N}"[..16];
        var trials = Specs("cancel", [(1, "sleep")]);
        var runner = Runner(jobName: jobName);
        using var cancellation = new CancellationTokenSource();

        var run = Task.Run(() => runner.Run(trials, cancellation.Token));
        Assert.True(WaitFor(() => File.Exists(trials[0].SpecPath + ".started") || run.IsCompleted), "the sleeping trial never started");
        Assert.False(run.IsCompleted);
        cancellation.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        // The trial sleeps 60 s; only scancel ends its task well before that.
        Assert.True(WaitFor(() => Squeue(jobName).Length == 0), $"job {jobName} still queued: {Squeue(jobName)}");
        Assert.False(File.Exists(trials[0].ResultPath));
    }

    [Fact]
    public void PartitionTheClusterDoesNotHave_FailsWithSbatchsReason()
    {
        var runner = new SlurmTrialRunner(command, Options() with { Partition = "no-such-partition" });

        var error = Assert.Throws<InvalidOperationException>(() => runner.Run(Specs("partition", [(1, "ok")])));

        Assert.Contains("sbatch did not accept the trial array", error.Message);
        Assert.Contains("invalid partition", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TasksAskingForMoreCpusThanTheNodeHas_AreCancelledWithTheSchedulersReason()
    {
        var jobName = $"stuck-{Guid.NewGuid():N}"[..16];
        var runner = new SlurmTrialRunner(command, Options() with { CpusPerTask = 64, JobName = jobName });

        var error = Assert.Throws<InvalidOperationException>(() => runner.Run(Specs("stuck", [(1, "ok")])));

        Assert.Contains("is pending with reason PartitionConfig, so the job was cancelled", error.Message);
        Assert.Contains("64 CPU(s) per task", error.Message);
        Assert.True(WaitFor(() => Squeue(jobName).Length == 0), $"job {jobName} still queued: {Squeue(jobName)}");
    }

    [Fact]
    public void RunnerCreatedWithoutSbatchOnThePath_ThrowsOneErrorNamingTheFixBeforeAnyWork()
    {
        var emptyBin = Directory.CreateDirectory(Path.Combine(root, "empty-bin")).FullName;
        var options = Options();
        var path = Environment.GetEnvironmentVariable("PATH");
        InvalidOperationException error;
        try
        {
            Environment.SetEnvironmentVariable("PATH", emptyBin);
            error = Assert.Throws<InvalidOperationException>(() => new SlurmTrialRunner(command, options));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }

        Assert.StartsWith("The Slurm trial runner needs sbatch, squeue, scancel on the PATH", error.Message);
        Assert.Contains("slurm-wlm", error.Message);
        Assert.Contains("Search:Runner=local", error.Message);
        Assert.False(Directory.Exists(options.SharedFolder));
    }

    [Theory]
    [InlineData(new[] { 0, 1, 2, 3 }, "0-3")]
    [InlineData(new[] { 0, 1, 2, 3, 5, 7, 8, 9 }, "0-3,5,7-9")]
    [InlineData(new[] { 4 }, "4")]
    [InlineData(new[] { 1, 3, 5 }, "1,3,5")]
    public void ArraySpec_WritesRunsOfIndicesAsRanges(int[] indices, string expected) =>
        Assert.Equal(expected, SlurmTrialRunner.ArraySpec(indices));

    [Fact]
    public void Options_RejectEachSettingThatCannotWork()
    {
        Assert.Contains("MaxAttempts is 0", Assert.Throws<ArgumentException>(() => (Options() with { MaxAttempts = 0 }).Validate()).Message);
        Assert.Contains("CpusPerTask is 0", Assert.Throws<ArgumentException>(() => (Options() with { CpusPerTask = 0 }).Validate()).Message);
        Assert.Contains("MaxParallel is -1", Assert.Throws<ArgumentException>(() => (Options() with { MaxParallel = -1 }).Validate()).Message);
        Assert.Contains("contains '%'", Assert.Throws<ArgumentException>(() => (Options() with { SharedFolder = "/shared/%j" }).Validate()).Message);
        Assert.Equal("2", (Options() with { TimeLimit = TimeSpan.FromSeconds(61) }).SbatchTime);
    }

    private SlurmRunnerOptions Options() => new()
    {
        SharedFolder = Path.Combine(root, "shared"),
        PollInterval = TimeSpan.FromMilliseconds(300),
        SettleTime = TimeSpan.FromSeconds(1),
        TimeLimit = TimeSpan.FromMinutes(5),
        MaxAttempts = 3,
    };

    private SlurmTrialRunner Runner(int maxParallel = 0, int maxAttempts = 3, string jobName = "trainer-tests") =>
        new(command, Options() with { MaxParallel = maxParallel, MaxAttempts = maxAttempts, JobName = jobName });

    private List<TrialFiles> Specs(string folder, (int X, string Mode)[] specs)
    {
        var directory = Directory.CreateDirectory(Path.Combine(root, folder)).FullName;
        return [.. specs.Select((spec, i) =>
        {
            var specPath = Path.Combine(directory, $"trial-{i}.json");
            File.WriteAllText(specPath, $$"""{"x": {{spec.X}}, "mode": "{{spec.Mode}}"}""");
            return new TrialFiles(specPath, Path.Combine(directory, $"trial-{i}.result.json"));
        })];
    }

    private void RunLocally(TrialFiles trial)
    {
        var start = new ProcessStartInfo(command.Program);
        foreach (var argument in command.ArgumentsFor(trial)) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    private static string Squeue(string jobName)
    {
        var start = new ProcessStartInfo("squeue") { RedirectStandardOutput = true };
        foreach (var argument in new[] { "--noheader", $"--name={jobName}", "--format=%i %T" }) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output.Trim();
    }

    // Waits for something the cluster does in a second or two; the bound only keeps a broken cluster from hanging the run.
    private static bool WaitFor(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) return false;
            Thread.Sleep(200);
        }
        return true;
    }
}
