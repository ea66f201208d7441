using Trainer.Core.Search.Trials;

namespace Trainer.Core.Tests.Search.Trials;

/// <summary>The local pool against a real worker process (a bash script speaking the worker protocol): trials spread over the
/// workers with their thread variables set, a crashed worker is replaced and its trial retried, a trial that keeps crashing
/// or is invalid is reported by index.</summary>
public sealed class LocalPoolTrialRunnerTests : IDisposable
{
    // Answers each request after a short pause; the result holds the worker's pid and thread variables. A spec holding
    // "crash-once" kills the worker the first time, "always-crash" every time; "invalid" is refused.
    private const string Worker = """
        while IFS=$'\t' read -r kind attempt spec result; do
          if grep -q crash-once "$spec" && [ ! -e "$spec.crashed" ]; then touch "$spec.crashed"; echo "dying on $spec" >&2; exit 3; fi
          if grep -q always-crash "$spec"; then echo "dying again" >&2; exit 4; fi
          if grep -q invalid "$spec"; then printf 'trial-invalid\tmade for another model\n'; continue; fi
          echo "a note on stdout that is not an answer"
          sleep 0.2
          printf '%s %s %s %s\n' $$ "$OMP_NUM_THREADS" "$MKL_NUM_THREADS" "$attempt" > "$result.tmp" && mv "$result.tmp" "$result"
          printf 'trial-done\n'
        done
        """;

    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("pool-");

    public void Dispose() => folder.Delete(recursive: true);

    private List<TrialFiles> Batch(params string[] specs) => specs.Select((text, i) =>
    {
        var spec = Path.Combine(folder.FullName, $"spec-{i}.json");
        File.WriteAllText(spec, text);
        return new TrialFiles(spec, Path.Combine(folder.FullName, $"result-{i}.json"));
    }).ToList();

    private static LocalPoolTrialRunner Pool(int workers, int maxAttempts = 3) =>
        new(new TrialCommand("bash", ["-c", Worker]), new LocalPoolOptions { Workers = workers, ThreadsPerWorker = 3, MaxAttempts = maxAttempts });

    [Fact]
    public void TrialsSpreadOverTheWorkersWhichStayAliveAcrossBatchesWithTheirThreadVariablesSet()
    {
        using var pool = Pool(2);
        var first = Batch("a", "b", "c", "d");
        var outcomes = pool.Run(first);
        Assert.Equal([0, 1, 2, 3], outcomes.Select(o => o.Index));
        Assert.All(outcomes, o => Assert.True(o.Succeeded && o.Attempts == 1 && o.Error is null, $"{o}"));
        var lines = first.Select(t => File.ReadAllText(t.ResultPath).Split(' ')).ToList();
        Assert.All(lines, l => Assert.Equal(["3", "3", "1\n"], l[1..]));
        var pids = lines.Select(l => l[0]).Distinct().ToList();
        Assert.Equal(2, pids.Count);

        // The same two processes serve the next batch.
        var second = Batch("e", "f", "g");
        Assert.All(pool.Run(second), o => Assert.True(o.Succeeded));
        Assert.Subset(pids.ToHashSet(), second.Select(t => File.ReadAllText(t.ResultPath).Split(' ')[0]).ToHashSet());
        Assert.Equal(0, pool.Restarts);
    }

    [Fact]
    public void ACrashedWorkerIsReplacedAndItsTrialRetried()
    {
        using var pool = Pool(2);
        var batch = Batch("a", "crash-once", "c");
        var outcomes = pool.Run(batch);
        Assert.All(outcomes, o => Assert.True(o.Succeeded, $"{o}"));
        Assert.Equal([1, 2, 1], outcomes.Select(o => o.Attempts));
        Assert.Equal("2", File.ReadAllText(batch[1].ResultPath).Split(' ')[3].Trim());
        Assert.Equal(1, pool.Restarts);
    }

    [Fact]
    public void ATrialThatKeepsCrashingOrIsInvalidIsReportedByIndexAndTheOthersFinish()
    {
        using var pool = Pool(1, maxAttempts: 2);
        var batch = Batch("a", "always-crash", "invalid", "d");
        var outcomes = pool.Run(batch);
        Assert.Equal([true, false, false, true], outcomes.Select(o => o.Succeeded));
        Assert.Equal(1, outcomes[1].Index);
        Assert.Equal(2, outcomes[1].Attempts);
        Assert.Contains("exit code 4", outcomes[1].Error);
        Assert.Contains("dying again", outcomes[1].Error);
        // An invalid spec is not retried: another attempt would be refused the same way.
        Assert.Equal(1, outcomes[2].Attempts);
        Assert.Equal("made for another model", outcomes[2].Error);
        Assert.False(File.Exists(batch[1].ResultPath));
        Assert.False(File.Exists(batch[2].ResultPath));
        Assert.Equal(2, pool.Restarts);
    }

    [Fact]
    public void BadPoolSettingsAreOneClearError()
    {
        var command = new TrialCommand("bash", ["-c", Worker]);
        Assert.Contains("Workers", Assert.Throws<ArgumentOutOfRangeException>(() => new LocalPoolTrialRunner(command, new LocalPoolOptions { Workers = 0 })).Message);
        Assert.Contains("MaxAttempts", Assert.Throws<ArgumentOutOfRangeException>(() => new LocalPoolTrialRunner(command, new LocalPoolOptions { MaxAttempts = 0 })).Message);
    }
}
