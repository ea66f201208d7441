using System.Text.Json;
using Trainer.Core.Search;
using Trainer.Tests.Shared;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer search` with Search:Runner=slurm on the real one-node cluster: its trials run as job arrays of
/// `trainer trial` processes and give the scores the local pool gives on the same seed; without sbatch on the PATH the
/// search stops at start-up with one error naming the fix.</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SlurmSearchTests : IDisposable
{
    private readonly CompressVerbTests verbs = new();

    public SlurmSearchTests(SlurmCluster cluster) => ArgumentNullException.ThrowIfNull(cluster); // the fixture started it

    public void Dispose() => verbs.Dispose();

    private (int Code, string Out, string Err) Search(string checkpoint, string run, params string[] extra) => verbs.Cli("search",
        [$"--Model:Checkpoint={checkpoint}", "--Search:Method=genetic", "--Search:Population=4", "--Search:Generations=2",
         "--Search:TargetFlopsRatio=0.5", "--Search:HeldOutSamples=96", "--Search:Seed=7", "--Trainer:Threads=1", $"--Trainer:RunName={run}", .. extra]);

    private string SearchDir(string run) => Path.Combine(verbs.Work, "ckpt", run, "search");

    [Fact]
    public void Search_on_slurm_gives_the_local_pools_trials_and_policy_on_the_same_seed()
    {
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=base", "--Trainer:Seed=0");
        Assert.True(code == 0, err);
        var checkpoint = Path.Combine(verbs.Work, "ckpt", "base", "best.ckpt");

        (code, _, err) = Search(checkpoint, "pool", "--Search:Runner=local", "--Search:Workers=2");
        Assert.True(code == 0, err);
        (code, _, err) = Search(checkpoint, "slurm", "--Search:Runner=slurm", "--Search:Slurm:MaxParallel=2", "--Search:Slurm:PollSeconds=0.5");
        Assert.True(code == 0, err);

        var pool = SearchResult.Load(Path.Combine(SearchDir("pool"), "search-result.json"));
        var slurm = SearchResult.Load(Path.Combine(SearchDir("slurm"), "search-result.json"));
        Assert.True(pool.History.Count >= 4, $"{pool.History.Count} trials");
        Assert.Equal(pool.History.Select(t => (t.Round, t.Reward, t.Score, string.Join(",", t.Kept))),
            slurm.History.Select(t => (t.Round, t.Reward, t.Score, string.Join(",", t.Kept))));
        Assert.Equal(pool.Best.KeptChannels, slurm.Best.KeptChannels);
        Assert.Equal(pool.Best.Score, slurm.Best.Score);

        // Each Slurm trial ran in a `trainer trial` process of its own, one per result, from job arrays in the trials folder.
        var trials = Path.Combine(SearchDir("slurm"), "trials");
        var workers = Directory.GetFiles(trials, "*.result.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString()!).ToList();
        Assert.Equal(slurm.History.Count, workers.Count);
        Assert.Equal(workers.Count, workers.Distinct().Count());
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(trials, "slurm"), "tasks.txt", SearchOption.AllDirectories));
    }

    [Fact]
    public void Slurm_runner_without_sbatch_on_the_path_is_one_error_at_start_up()
    {
        var path = Environment.GetEnvironmentVariable("PATH");
        var emptyBin = Directory.CreateDirectory(Path.Combine(verbs.Work, "empty-bin")).FullName;
        (int Code, string Out, string Err) result;
        try
        {
            Environment.SetEnvironmentVariable("PATH", emptyBin);
            result = verbs.Cli("search", "--Search:Runner=slurm", "--Trainer:RunName=nosbatch");
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }

        Assert.Equal(2, result.Code);
        Assert.Contains("Search:Runner = 'slurm': The Slurm trial runner needs sbatch, squeue, scancel on the PATH", result.Err);
        Assert.Contains("Search:Runner=local", result.Err);
        Assert.False(Directory.Exists(Path.Combine(verbs.Work, "ckpt", "nosbatch")));
    }
}
