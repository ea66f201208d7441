using System.Text.Json;
using System.Text.Json.Nodes;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;

namespace Trainer.Host.Tests.Cli;

/// <summary>Search trials as spec files: a search on a local pool of two `trainer trial --worker` processes walks the same
/// trials to the same policy as in process; `trainer trial` run on one of its specs in a fresh process gives the same score
/// to the bit; a spec of another model or with a group the model lacks is one error, exit code 2, nothing written.</summary>
public sealed class TrialVerbTests : IDisposable
{
    private static readonly Dictionary<string, string> OneThread = new() { ["Trainer__Threads"] = "1", ["OMP_NUM_THREADS"] = "1" };
    private readonly CompressVerbTests verbs = new();

    public void Dispose() => verbs.Dispose();

    private string Train(string run, int seed)
    {
        var (code, _, err) = verbs.Cli("train", $"--Trainer:RunName={run}", $"--Trainer:Seed={seed}");
        Assert.True(code == 0, err);
        return Path.Combine(verbs.Work, "ckpt", run, "best.ckpt");
    }

    private (int Code, string Out, string Err) Search(string checkpoint, string run, params string[] extra) => verbs.Cli("search",
        [$"--Model:Checkpoint={checkpoint}", "--Search:Method=genetic", "--Search:Population=6", "--Search:Generations=2",
         "--Search:TargetFlopsRatio=0.5", "--Search:HeldOutSamples=96", "--Search:Seed=3", "--Trainer:Threads=1", $"--Trainer:RunName={run}", .. extra]);

    private string SearchDir(string run) => Path.Combine(verbs.Work, "ckpt", run, "search");

    [Fact]
    public void A_local_pool_gives_the_in_process_trials_and_a_fresh_trial_process_the_same_score_and_other_models_are_refused()
    {
        var checkpoint = Train("base", 0);
        var (code, _, err) = Search(checkpoint, "inproc");
        Assert.True(code == 0, err);
        (code, _, err) = Search(checkpoint, "pool", "--Search:Runner=local", "--Search:Workers=2", "--Search:ThreadsPerWorker=1");
        Assert.True(code == 0, err);

        var inProcess = SearchResult.Load(Path.Combine(SearchDir("inproc"), "search-result.json"));
        var pool = SearchResult.Load(Path.Combine(SearchDir("pool"), "search-result.json"));
        Assert.True(inProcess.History.Count >= 6, $"{inProcess.History.Count} trials");
        Assert.Equal(inProcess.History.Select(t => (t.Round, t.Reward, t.Score, string.Join(",", t.Kept))),
            pool.History.Select(t => (t.Round, t.Reward, t.Score, string.Join(",", t.Kept))));
        Assert.Equal(inProcess.Best.KeptChannels, pool.Best.KeptChannels);
        Assert.Equal(inProcess.Best.Score, pool.Best.Score);
        // The pool's trials ran in two worker processes, not in this one.
        var poolResults = Directory.GetFiles(Path.Combine(SearchDir("pool"), "trials"), "*.result.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString()!).ToList();
        Assert.Equal(inProcess.History.Count, poolResults.Count);
        Assert.Equal(2, poolResults.Distinct().Count());
        Assert.DoesNotContain($"{Environment.MachineName}:{Environment.ProcessId}", poolResults);

        // One in-process trial run again by `trainer trial` in a fresh process: the same score, bit for bit.
        var trials = Path.Combine(SearchDir("inproc"), "trials");
        var spec = Directory.GetFiles(trials, "trial-*.json").First(f => !f.EndsWith(".result.json"));
        var inProcessScore = JsonDocument.Parse(File.ReadAllText(spec[..^".json".Length] + ".result.json")).RootElement.GetProperty("score").GetDouble();
        var again = Path.Combine(verbs.Work, "again.result.json");
        var (trialCode, trialOut, trialErr) = HostProcess.Run(verbs.Work, OneThread, "trial", spec, "--result", again);
        Assert.True(trialCode == 0, trialErr);
        var fresh = TrialResult.Load(again, TrialSpec.Load(spec));
        Assert.Equal(BitConverter.DoubleToInt64Bits(inProcessScore), BitConverter.DoubleToInt64Bits(fresh.Score));
        Assert.Contains(fresh.SpecHash, trialOut);

        // The same spec pointed at another model's weights, and a policy naming a group the model lacks: one error each,
        // exit code 2, no result written.
        var other = Train("other", 5);
        var node = JsonNode.Parse(File.ReadAllText(spec))!;
        node["config"]!["Model:Checkpoint"] = other;
        var otherSpec = Path.Combine(verbs.Work, "other-model.json");
        File.WriteAllText(otherSpec, node.ToJsonString());
        var refused = Path.Combine(verbs.Work, "refused.result.json");
        (trialCode, _, trialErr) = HostProcess.Run(verbs.Work, OneThread, "trial", otherSpec, "--result", refused);
        Assert.Equal(2, trialCode);
        Assert.Contains("is of another model or search", trialErr);
        Assert.Contains("weights", trialErr);
        Assert.Single(trialErr.Split('\n'), l => l.StartsWith("error:"));
        Assert.False(File.Exists(refused));

        node = JsonNode.Parse(File.ReadAllText(spec))!;
        node["policy"]!["conv9"] = 3;
        var unknownGroup = Path.Combine(verbs.Work, "unknown-group.json");
        File.WriteAllText(unknownGroup, node.ToJsonString());
        (trialCode, _, trialErr) = HostProcess.Run(verbs.Work, OneThread, "trial", unknownGroup, "--result", refused);
        Assert.Equal(2, trialCode);
        Assert.Contains("'conv9'", trialErr);
        Assert.False(File.Exists(refused));

        // A persistent worker: two specs of one model load it once; the other model's spec loads that model and is answered
        // invalid; the bad group's spec loads the first model again (the worker keeps one) and is invalid too; the worker
        // goes on serving after each: three loads for four trials.
        var specs = Directory.GetFiles(trials, "trial-*.json").Where(f => !f.EndsWith(".result.json")).Take(2).ToList();
        var requests = new[] { specs[0], specs[1], otherSpec, unknownGroup }.Select((f, i) => $"trial\t1\t{f}\t{Path.Combine(verbs.Work, $"w{i}.result.json")}");
        var (workerCode, answers, log) = HostProcess.RunWithInput(verbs.Work, OneThread, string.Join("\n", requests) + "\n", "trial", "--worker");
        Assert.True(workerCode == 0, log);
        var lines = answers.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["trial-done", "trial-done", "trial-invalid", "trial-invalid"], lines.Select(l => l.Split('\t')[0]));
        Assert.Contains("is of another model or search", lines[2]);
        Assert.Contains("'conv9'", lines[3]);
        Assert.Equal(3, log.Split('\n').Count(l => l.Contains("Trial worker loaded")));
        for (int i = 0; i < 2; i++)
            Assert.Equal(TrialResult.Load(specs[i][..^".json".Length] + ".result.json", TrialSpec.Load(specs[i])).Score,
                TrialResult.Load(Path.Combine(verbs.Work, $"w{i}.result.json"), TrialSpec.Load(specs[i])).Score);
        Assert.False(File.Exists(Path.Combine(verbs.Work, "w2.result.json")));
    }

    [Fact]
    public void A_search_killed_mid_batch_resumes_on_the_pool_from_its_finished_trials_without_running_them_again()
    {
        var checkpoint = Train("base", 0);
        var (code, _, err) = Search(checkpoint, "full", "--Search:Population=10");
        Assert.True(code == 0, err);
        var full = SearchResult.Load(Path.Combine(SearchDir("full"), "search-result.json"));

        // Killed in the second generation's batch: the journal holds the first generation's trials only, two of the second
        // generation's trials had finished (their result files are in place), the rest had not.
        var killed = SearchDir("killed");
        Directory.CreateDirectory(Path.Combine(killed, "trials"));
        var journal = File.ReadAllLines(Path.Combine(SearchDir("full"), "trials.jsonl"));
        int firstGeneration = full.History.Count(t => t.Round == 0);
        File.WriteAllLines(Path.Combine(killed, "trials.jsonl"), journal.Take(1 + firstGeneration));
        var secondGeneration = full.History.Where(t => t.Round == 1).Select(t => t.Kept).ToList();
        Assert.True(secondGeneration.Count >= 3, $"{secondGeneration.Count} trials in the second generation");
        foreach (var file in Directory.GetFiles(Path.Combine(SearchDir("full"), "trials")))
        {
            bool result = file.EndsWith(".result.json");
            var spec = TrialSpec.Load(result ? file.Replace(".result.json", ".json") : file);
            int index = secondGeneration.FindIndex(k => k.SequenceEqual(new[] { spec.Policy["conv1"], spec.Policy["conv2"], spec.Policy["conv3"], spec.Policy["fc1"] }));
            if (!result || index is 0 or 1) File.Copy(file, Path.Combine(killed, "trials", Path.GetFileName(file)));
        }
        int resultsBefore = Directory.GetFiles(Path.Combine(killed, "trials"), "*.result.json").Length;
        Assert.Equal(2, resultsBefore);

        // Resumed on the local pool (the specs do not depend on the runner): the same trials and policy, and only the
        // unfinished trials of the second generation ran.
        (code, _, err) = Search(checkpoint, "killed", "--Search:Population=10", "--resume", "--Search:Runner=local", "--Search:Workers=2");
        Assert.True(code == 0, err);
        var resumed = SearchResult.Load(Path.Combine(killed, "search-result.json"));
        Assert.Equal(full.History.Select(t => (t.Reward, string.Join(",", t.Kept))), resumed.History.Select(t => (t.Reward, string.Join(",", t.Kept))));
        Assert.Equal(full.Best.KeptChannels, resumed.Best.KeptChannels);
        var workers = Directory.GetFiles(Path.Combine(killed, "trials"), "*.result.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString()).ToList();
        Assert.Equal(secondGeneration.Count, workers.Count);
        Assert.Equal(secondGeneration.Count - 2, workers.Count(w => w != $"{Environment.MachineName}:{Environment.ProcessId}"));
    }

    [Fact]
    public void Bad_runner_settings_are_one_message_each_at_start_up()
    {
        var (code, _, err) = verbs.Cli("search", "--Search:Runner=cluster", "--Search:Workers=0", "--Search:ThreadsPerWorker=0", "--Search:MaxAttempts=0");
        Assert.Equal(2, code);
        Assert.Contains("Search:Runner = 'cluster' is invalid; accepted: in-process, local, slurm.", err);
        Assert.Contains("Search:Workers = 0 is invalid", err);
        Assert.Contains("Search:ThreadsPerWorker = 0 is invalid", err);
        Assert.Contains("Search:MaxAttempts = 0 is invalid", err);
    }
}
