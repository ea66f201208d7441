using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Trainer.Host.Tests.Cli;
using Xunit.Abstractions;

namespace Trainer.Host.Tests.Crash;

/// <summary>
/// "Crash anywhere, lose nothing": `trainer run` (train → compress → export → quantize on a small subset of the real
/// Fashion-MNIST) is killed with SIGKILL at seeded moments and resumed with --resume each time; its final manifests, the
/// SHA-256 of its weights, checkpoints and quantized file, and every accuracy it reports must equal an unbroken run's, and
/// no temporary file may be left. Both runs share one latency-table cache (the table the first run measures is the
/// second's), as two runs on one machine do.
/// </summary>
[Trait("Category", "Crash")]
public sealed class CrashResumeTests(ITestOutputHelper log) : IDisposable
{
    /// <summary>The seed of the random kill moments; printed in every assertion message.</summary>
    private const int Seed = 1204;

    private const string RunName = "pipeline";
    private const int RandomKills = 6;

    /// <summary>Files the targeted kills die writing, relative to a run's root (their path tails are unique), in pipeline order.</summary>
    private static readonly string[] WriteTargets =
    [
        $"ckpt/{RunName}/last.ckpt",                 // the training stage's checkpoint (written after best.ckpt)
        $"ckpt/{RunName}/compress/manifest.json",    // the compress stage's result (after its weights)
        $"ckpt/{RunName}/export/inference.weights",
        $"ckpt/{RunName}/export/manifest.json",
        $"runs/{RunName}/export/summary.json",       // the export's report, after its result
        $"ckpt/{RunName}/quantize/quantized.trnq",
    ];

    /// <summary>Results a resumed run does not redo, relative to a run's root: how far a crashed run got.</summary>
    private static readonly string[] ProgressMarkers =
    [
        $"ckpt/{RunName}/last.ckpt", $"ckpt/{RunName}/compress/manifest.json", $"ckpt/{RunName}/export/manifest.json",
        $"ckpt/{RunName}/quantize/quantized.trnq",
    ];

    /// <summary>
    /// Differences whose cause is in files this harness may not change yet, each with that cause: printed when seen, not
    /// failed on. Each matches one whole difference line (one JSON line or one file), so any other difference still fails.
    /// Remove an entry once its cause is fixed.
    /// </summary>
    private static readonly (Regex Line, string Cause)[] KnownDifferences =
    [
    ];

    private readonly FashionMnistSubset _data = new(train: 2000, test: 500);
    private readonly string _work = Directory.CreateTempSubdirectory("trainer-crash-").FullName;
    private readonly StringBuilder _report = new();

    /// <summary>Deletes the work folder, unless TRAINER_CRASH_KEEP=1 (each process's output is in its logs/ folder).</summary>
    public void Dispose()
    {
        _data.Dispose();
        if (Environment.GetEnvironmentVariable("TRAINER_CRASH_KEEP") != "1") Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public void A_pipeline_killed_anywhere_and_resumed_ends_as_an_unbroken_run_with_no_temporary_file_left()
    {
        var harness = Stopwatch.StartNew();
        string unbrokenRoot = Path.Combine(_work, "unbroken"), crashRoot = Path.Combine(_work, "crash");

        var watched = WriteTargets.Concat(ProgressMarkers).Distinct().ToDictionary(f => f, f => Path.Combine(unbrokenRoot, f));
        var unbroken = Logged("unbroken", ChildRun.Run(_work, Args(unbrokenRoot, resume: false), watch: watched.Values, startMarker: "Pipeline '"));
        Assert.True(unbroken.ExitCode == 0, $"the unbroken run failed (exit {unbroken.ExitCode}):\n{Tail(unbroken.Output)}");
        var startup = unbroken.Started ?? TimeSpan.FromSeconds(2);
        Note($"seed {Seed}; unbroken run {unbroken.Elapsed.TotalSeconds:0.0} s (pipeline started at {startup.TotalSeconds:0.0} s); " +
             $"written at: {string.Join(", ", watched.Select(w => $"{w.Key} {unbroken.FirstSeen[w.Value].TotalSeconds:0.0} s"))}");

        var plan = new KillPlan(Seed, unbroken.Elapsed, WriteTargets.Select(t => new WriteKill(t, unbroken.FirstSeen[watched[t]])), RandomKills);
        Note("plan: " + string.Join("; ", plan.Planned));

        var crashClock = Stopwatch.StartNew();
        int writeKills = 0, timedKills = 0, replaced = 0, attempt = 0;
        TimeSpan? finished = null;            // how long the last run that exited 0 took
        bool lastExitedZero = false;
        while (plan.Any)
        {
            var progress = ProgressMarkers.Where(m => File.Exists(Path.Combine(crashRoot, m))).Select(m => unbroken.FirstSeen[watched[m]])
                .DefaultIfEmpty(TimeSpan.Zero).Max();
            var kill = plan.Next(progress);
            ChildOutcome outcome;
            string how;
            if (kill is WriteKill write)
            {
                outcome = ChildRun.Run(_work, Args(crashRoot, resume: attempt > 0),
                    new Dictionary<string, string> { ["TRAINER_KILL_DURING_WRITE"] = write.Target });
                how = $"TRAINER_KILL_DURING_WRITE={write.Target}";
                if (outcome.Killed)
                {
                    writeKills++;
                    // Killed inside the write: its temporary file is there, the file itself is not (yet) or still the old one.
                    Assert.True(Temps(crashRoot).Any(t => Path.GetFileName(t).StartsWith($".{Path.GetFileNameWithoutExtension(write.Target)}.")),
                        Context($"no temporary file of {write.Target} after the kill switch fired"));
                }
            }
            else
            {
                var timed = (TimedKill)kill;
                // A finished run resumed again only checks and reports: the moment is that fraction of its duration.
                // A moment the run has already passed (a targeted kill went first) becomes the resumed pipeline's start.
                var delay = finished is { } f ? f * timed.Fraction : Max(TimeSpan.Zero, timed.At - progress) + startup;
                outcome = ChildRun.Run(_work, Args(crashRoot, resume: attempt > 0), killAfter: delay);
                how = $"Process.Kill() after {delay.TotalSeconds:0.0} s";
                if (outcome.KilledByHarness) timedKills++;
                else if (outcome.ExitCode == 0 && replaced++ < RandomKills) how += $" (finished first; replaced by a {plan.Replace()})";
            }
            Logged($"attempt-{attempt}", outcome);
            Note($"#{attempt} {(attempt > 0 ? "run --resume" : "run")}, {kill}, progress {progress.TotalSeconds:0.0} s: {how} → " +
                 $"{(outcome.Killed ? "killed" : $"exit {outcome.ExitCode}")} after {outcome.Elapsed.TotalSeconds:0.0} s; " +
                 $"temporary files: [{string.Join(", ", Temps(crashRoot).Select(Path.GetFileName))}]");
            Assert.True(outcome.ExitCode is 0 or ChildOutcome.SigKillExitCode,
                Context($"attempt #{attempt} failed with exit {outcome.ExitCode}:\n{Tail(outcome.Output)}"));
            if (outcome.ExitCode == 0) finished = outcome.Elapsed;
            lastExitedZero = outcome.ExitCode == 0;
            attempt++;
        }
        if (!lastExitedZero)
        {
            var final = Logged("final", ChildRun.Run(_work, Args(crashRoot, resume: true)));
            Note($"#{attempt} run --resume, no kill → exit {final.ExitCode} after {final.Elapsed.TotalSeconds:0.0} s");
            Assert.True(final.ExitCode == 0, Context($"the final --resume failed with exit {final.ExitCode}:\n{Tail(final.Output)}"));
        }
        Note($"kills: {writeKills} in writes, {timedKills} at random moments; crashed run {crashClock.Elapsed.TotalSeconds:0.0} s, " +
             $"harness so far {harness.Elapsed.TotalSeconds:0.0} s");

        var expected = new RunOutputs(unbrokenRoot);
        var actual = new RunOutputs(crashRoot);
        Note($"compared: {expected.Json.Count} JSON files ({string.Join(", ", expected.Json.Keys)}), {expected.Hashes.Count} hashed files " +
             $"({string.Join(", ", expected.Hashes.Keys)}), {expected.Accuracies.Count} accuracies; timing fields removed: " +
             string.Join(", ", RunOutputs.TimingFields));
        Assert.True(writeKills == WriteTargets.Length && timedKills >= RandomKills && writeKills + timedKills >= 10,
            Context($"too few kills landed: {writeKills} of {WriteTargets.Length} in writes, {timedKills} at random moments"));
        Assert.True(expected.Hashes.Count >= 8 && expected.Accuracies.Count >= 10, Context("the unbroken run left fewer results than expected"));
        var differences = actual.DifferencesFrom(expected);
        foreach (var (line, cause) in KnownDifferences)
            foreach (var known in differences.Where(d => line.IsMatch(d)).ToList())
            {
                Note($"known difference: {known}\n  cause: {cause}");
                differences.Remove(known);
            }
        Assert.True(differences.Count == 0, Context("the resumed run differs from the unbroken one:\n  " + string.Join("\n  ", differences)));
        var temps = expected.Temps.Select(t => "unbroken/" + t).Concat(actual.Temps.Select(t => "crash/" + t))
            .Concat(Temps(Path.Combine(_work, "latency"))).ToList();
        Assert.True(temps.Count == 0, Context("temporary files were left: " + string.Join(", ", temps)));
        Note($"harness {harness.Elapsed.TotalSeconds:0.0} s");
        log.WriteLine(_report.ToString());
    }

    private string[] Args(string root, bool resume) =>
    [
        "run", $"--Data:Path={_data.Directory}", "--Data:SubsetRatio=0.25",
        $"--Trainer:LogDir={root}/runs", $"--Trainer:CheckpointDir={root}/ckpt", $"--Trainer:RunName={RunName}",
        // One intra-op thread: on a shared 2-core machine two OpenMP threads per process spin against the other processes'
        // (measured here under load: a pipeline in 29-37 s with one thread, 89-103 s with two).
        "--Trainer:Epochs=1", "--Trainer:Threads=1", "--Trainer:WeightHistograms=false",
        // libtorch's own kernels: no start-up self-test of oneDNN per process and model, the same kernels in every process.
        "--Trainer:ConvKernels=native",
        "--Pipeline:Stages:0=train", "--Pipeline:Stages:1=compress", "--Pipeline:Stages:2=export", "--Pipeline:Stages:3=quantize",
        $"--Compression:PluginsDir={CompressVerbTests.PluginsBin}", "--Compression:Plugins:0=ChannelPruning", "--Compression:Plugins:1=Quantizers",
        "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=lasso", "--Compression:AccuracySamples=500",
        "--Compression:Allocation=latency", "--Compression:LatencyForm=inference", $"--Compression:LatencyCacheDir={_work}/latency",
        // The table's pick, untimed: a timed choice among candidates could differ between the two runs.
        "--Compression:MeasuredCandidates=1", "--Compression:FinetuneEpochs=1",
        "--Quantization:Quantizer=observer", "--Quantization:Settings:calibration_batches=4", "--Quantization:FinetuneEpochs=0",
        .. resume ? new[] { "--resume" } : [],
    ];

    /// <summary>Keeps a process's output in the work folder's logs/ (see <see cref="Dispose"/>).</summary>
    private ChildOutcome Logged(string name, ChildOutcome outcome)
    {
        Directory.CreateDirectory(Path.Combine(_work, "logs"));
        File.WriteAllText(Path.Combine(_work, "logs", name + ".txt"), outcome.Output);
        return outcome;
    }

    private static IEnumerable<string> Temps(string root) =>
        Directory.Exists(root) ? Directory.EnumerateFiles(root, "*.tmp*", SearchOption.AllDirectories) : [];

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static string Tail(string output) => string.Join('\n', output.Split('\n').TakeLast(40));

    private void Note(string line) => _report.AppendLine(line);

    /// <summary>An assertion message: what failed, the seed and everything the harness did so far.</summary>
    private string Context(string what) => $"{what}\n(seed {Seed})\n{_report}";
}
