using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Trainer.Core.Search;
using Trainer.Host.Jobs;
using Trainer.Host.Tests.Cli;
using Xunit.Abstractions;

namespace Trainer.Host.Tests.Crash;

/// <summary>
/// `trainer search` killed with SIGKILL and resumed with --resume: the genetic algorithm on a local pool of two worker
/// processes (killed once with its whole process group, once alone, its workers orphaned) and AMC's agent in process (killed
/// inside the write of a journal line, then at a moment the journal holds some trials). Each ends with a search-result.json
/// equal, byte for byte, to an unbroken run's on the same seed; every trial finished before a kill keeps the result file of
/// the process that ran it (no trial runs twice), and a killed search's workers do not outlive it.
/// </summary>
[Trait("Category", "Crash")]
public sealed partial class SearchKillTests(ITestOutputHelper log) : IDisposable
{
    private const int Population = 6;
    private static readonly Dictionary<string, string> OneThread = new() { ["Trainer__Threads"] = "1", ["OMP_NUM_THREADS"] = "1" };
    private readonly CompressVerbTests verbs = new();

    public void Dispose() => verbs.Dispose();

    [Fact]
    public void A_genetic_search_on_the_local_pool_killed_with_and_without_its_workers_resumes_to_the_unbroken_result_running_no_trial_twice()
    {
        var checkpoint = Train();
        string[] genetic = ["--Search:Method=genetic", $"--Search:Population={Population}", "--Search:Generations=3",
            "--Search:Runner=local", "--Search:Workers=2", "--Search:ThreadsPerWorker=1"];
        var unbroken = Run(checkpoint, "ga-full", genetic, resume: false);
        int distinct = Results("ga-full").Count;

        // 1. The whole process group (the search and its two workers) killed once the first generation is journaled (its
        // batch's lines are appended together): the second generation's batch has just started.
        var journal = Path.Combine(SearchDir("ga"), SearchJob.JournalFileName);
        var first = ChildRun.Run(verbs.Work, Args(checkpoint, "ga", genetic, resume: false), OneThread,
            killWhen: _ => JournaledTrials(journal) >= 1, ownProcessGroup: true, killGroup: true);
        Note("group kill", first);
        Assert.True(first.KilledByHarness, first.Output);
        Assert.Empty(ProcessGroups.WaitEmpty(first.ProcessId, TimeSpan.FromSeconds(5)));
        int afterFirst = JournaledTrials(journal);
        Assert.InRange(afterFirst, 1, distinct - 1);
        Assert.False(File.Exists(Path.Combine(SearchDir("ga"), SearchJob.ResultFileName)));

        // 2. Resumed, then the search process alone killed once it journaled a trial more: its workers are orphaned and must end.
        var kept = Results("ga");
        IReadOnlyList<int> workersAtKill = [];
        var second = ChildRun.Run(verbs.Work, Args(checkpoint, "ga", genetic, resume: true), OneThread, killWhen: pid =>
        {
            if (JournaledTrials(journal) <= afterFirst) return false;
            // A batch's journal lines are appended once its trials are done, when its workers may already be ending: the
            // kill waits for a running worker (the next batch's), so the search leaves orphans however late this poll is.
            workersAtKill = ProcessGroups.Members(pid).Where(p => p != pid).ToList();
            return workersAtKill.Count > 0;
        }, ownProcessGroup: true);
        Note("search-only kill", second);
        Assert.True(second.KilledByHarness, second.Output);
        // The pool starts a worker per slot for a batch of two trials or more (one for a batch of one).
        Assert.InRange(workersAtKill.Count, 1, 2);
        var orphans = ProcessGroups.WaitEmpty(second.ProcessId, TimeSpan.FromSeconds(5));
        Assert.True(orphans.Count == 0, $"the workers {string.Join(", ", orphans)} outlived their killed search by 5 s");
        AssertKept(kept, Results("ga"));

        // 3. Resumed to the end.
        kept = Results("ga");
        var final = Run(checkpoint, "ga", genetic, resume: true);
        AssertResumed(unbroken, final, "ga-full", "ga", kept, distinct);
    }

    [Fact]
    public void An_amc_search_killed_inside_a_journal_write_and_at_a_moment_resumes_to_the_unbroken_result_running_no_trial_twice()
    {
        var checkpoint = Train();
        string[] amc = ["--Search:Method=amc", "--Search:Episodes=12", "--Search:WarmupEpisodes=4"];
        var unbroken = Run(checkpoint, "amc-full", amc, resume: false);
        int distinct = Results("amc-full").Count;
        Assert.True(distinct >= 8, $"{distinct} distinct trials");

        // 1. Killed inside the write of the third trial's journal line (the journal's first write is its header): half the
        // line is on the disk; the trial's result file is already in place.
        var journal = Path.Combine(SearchDir("amc"), SearchJob.JournalFileName);
        var first = ChildRun.Run(verbs.Work, Args(checkpoint, "amc", amc, resume: false),
            new Dictionary<string, string>(OneThread) { ["TRAINER_KILL_DURING_WRITE"] = SearchJob.JournalFileName + ":4" });
        Note("kill inside the journal write", first);
        Assert.True(first.Killed, first.Output);
        var text = File.ReadAllText(journal);
        Assert.False(text.EndsWith('\n'), "the journal's last line is not torn:\n" + text);
        Assert.Equal(2, JournaledTrials(journal));
        Assert.Equal(3, Results("amc").Count);

        // 2. Resumed (the torn line dropped, its trial answered from its result file), killed once six trials are journaled.
        var kept = Results("amc");
        var second = ChildRun.Run(verbs.Work, Args(checkpoint, "amc", amc, resume: true), OneThread,
            killWhen: _ => JournaledTrials(journal) >= 6, ownProcessGroup: true, killGroup: true);
        Note("timed kill", second);
        Assert.True(second.KilledByHarness, second.Output);
        Assert.Contains("incomplete", second.Output);
        Assert.InRange(JournaledTrials(journal), 6, distinct - 1);
        AssertKept(kept, Results("amc"));

        // 3. Resumed to the end.
        kept = Results("amc");
        var final = Run(checkpoint, "amc", amc, resume: true);
        AssertResumed(unbroken, final, "amc-full", "amc", kept, distinct);
    }

    /// <summary>The resumed search's result equals the unbroken one's byte for byte, the result files of trials run before
    /// (<paramref name="kept"/>) are untouched, and the last process ran exactly the trials that had no result.</summary>
    private void AssertResumed(ChildOutcome unbroken, ChildOutcome final, string fullRun, string run, IReadOnlyDictionary<string, string> kept, int distinct)
    {
        var expected = File.ReadAllBytes(Path.Combine(SearchDir(fullRun), SearchJob.ResultFileName));
        var actual = File.ReadAllBytes(Path.Combine(SearchDir(run), SearchJob.ResultFileName));
        var best = SearchResult.Load(Path.Combine(SearchDir(run), SearchJob.ResultFileName)).Best;
        log.WriteLine($"best {best.Method} policy: score {best.Score}, {string.Join(", ", best.Groups.Select(g => $"{g.Id} {g.Kept}/{g.Channels}"))}");
        Assert.True(expected.AsSpan().SequenceEqual(actual),
            $"the resumed search-result.json differs from the unbroken run's:\n{File.ReadAllText(Path.Combine(SearchDir(fullRun), SearchJob.ResultFileName))}\n" +
            $"---\n{File.ReadAllText(Path.Combine(SearchDir(run), SearchJob.ResultFileName))}");
        var results = Results(run);
        AssertKept(kept, results);
        Assert.Equal(distinct, results.Count);
        var counts = RanLine().Match(final.Output);
        Assert.True(counts.Success, final.Output);
        int ran = int.Parse(counts.Groups[1].Value);
        log.WriteLine($"unbroken: {unbroken.Output.Split('\n').First(l => RanLine().IsMatch(l)).Trim()}");
        log.WriteLine($"resumed:  {counts.Value}; {kept.Count} result files kept from the killed processes");
        Assert.Equal(distinct - kept.Count, ran);
        Assert.Empty(Directory.EnumerateFiles(SearchDir(run), "*.tmp*", SearchOption.AllDirectories));
    }

    /// <summary>Every result file of <paramref name="before"/> is still there with the same content (the same worker ran it).</summary>
    private static void AssertKept(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after)
    {
        foreach (var (file, hash) in before)
        {
            Assert.True(after.TryGetValue(file, out var now), $"the result {file} of a finished trial is gone");
            Assert.True(now == hash, $"the finished trial {file} was run again");
        }
    }

    private string Train()
    {
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=base");
        Assert.True(code == 0, err);
        return Path.Combine(verbs.Work, "ckpt", "base", "best.ckpt");
    }

    private ChildOutcome Run(string checkpoint, string run, string[] method, bool resume)
    {
        var outcome = ChildRun.Run(verbs.Work, Args(checkpoint, run, method, resume), OneThread);
        Note(resume ? "resumed to the end" : "unbroken", outcome);
        Assert.True(outcome.ExitCode == 0, outcome.Output);
        return outcome;
    }

    private string[] Args(string checkpoint, string run, string[] method, bool resume) => verbs.Args("search",
        [$"--Model:Checkpoint={checkpoint}", $"--Trainer:RunName={run}", "--Trainer:Threads=1", "--Search:TargetFlopsRatio=0.5",
         "--Search:HeldOutSamples=96", "--Search:Seed=3", .. method, .. resume ? new[] { "--resume" } : []]);

    private string SearchDir(string run) => Path.Combine(verbs.Work, "ckpt", run, "search");

    /// <summary>Trial lines in the journal (its header and a torn last line not counted).</summary>
    private static int JournaledTrials(string journal)
    {
        if (!File.Exists(journal)) return 0;
        try
        {
            using var stream = new FileStream(journal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            return Math.Max(0, reader.ReadToEnd().Count(c => c == '\n') - 1);
        }
        catch (IOException)
        {
            return 0;   // renamed into place while we opened it
        }
    }

    /// <summary>The trial result files of a run: file name → SHA-256 of the content (which holds the worker that ran it).</summary>
    private IReadOnlyDictionary<string, string> Results(string run)
    {
        var folder = Path.Combine(SearchDir(run), SearchJob.TrialsFolderName);
        if (!Directory.Exists(folder)) return new Dictionary<string, string>();
        return Directory.GetFiles(folder, "trial-*.result.json").ToDictionary(f => Path.GetFileName(f),
            f => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f))) + " " + JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString());
    }

    private void Note(string what, ChildOutcome outcome) =>
        log.WriteLine($"{what}: {(outcome.Killed ? "killed" : $"exit {outcome.ExitCode}")} after {outcome.Elapsed.TotalSeconds:0.0} s");

    [GeneratedRegex(@"(\d+) trial\(s\) run in \d+ batch\(es\); \d+ answered from trial results already in '[^']*', \d+ from the journal")]
    private static partial Regex RanLine();
}
