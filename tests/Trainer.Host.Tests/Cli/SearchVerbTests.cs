using System.Text.Json;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer search`: a seeded ratio search of a trained model writes its best policy within the budget, resumes
/// from its trial journal to the same policy, and refuses budgets and floors it cannot meet.</summary>
public sealed class SearchVerbTests : IDisposable
{
    private readonly CompressVerbTests verbs = new();

    public void Dispose() => verbs.Dispose();

    private string Checkpoint()
    {
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=base");
        Assert.True(code == 0, err);
        return Path.Combine(verbs.Work, "ckpt", "base", "best.ckpt");
    }

    private (int Code, string Out, string Err) Search(string checkpoint, params string[] extra) => verbs.Cli("search",
        [$"--Model:Checkpoint={checkpoint}", "--Search:Method=genetic", "--Search:Population=4", "--Search:Generations=2",
         "--Search:TargetFlopsRatio=0.5", "--Search:HeldOutSamples=64", "--Search:Seed=3", .. extra]);

    private string SearchDir(string run) => Path.Combine(verbs.Work, "ckpt", run, "search");

    /// <summary>Each of <paramref name="cases"/> (an argument beside <paramref name="setting"/>) exits 2 with its message and
    /// leaves no file in the run's search folder.</summary>
    private void AssertRefused(string checkpoint, string setting, params (string Extra, string Message)[] cases)
    {
        foreach (var (extra, message) in cases)
        {
            var (code, _, err) = Search(checkpoint, "--Trainer:RunName=bad", setting, extra);
            Assert.Equal(2, code);
            Assert.Contains(message, err);
            Assert.False(Directory.Exists(SearchDir("bad")) && Directory.EnumerateFiles(SearchDir("bad")).Any());
        }
    }

    [Fact]
    public void A_search_writes_its_best_policy_within_the_budget_and_resumes_from_its_journal_to_the_same_policy()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = Search(checkpoint, "--Trainer:RunName=s");
        Assert.True(code == 0, err);
        var result = SearchResult.Load(Path.Combine(SearchDir("s"), "search-result.json"));
        Assert.Equal("genetic", result.Best.Method);
        Assert.True(result.Best.Macs <= result.Best.Budget, $"{result.Best.Macs} > {result.Best.Budget}");
        // Every group keeps at least the floor (AMC's 0.2 by default) and the policy narrows some.
        Assert.All(result.Best.Groups, g => Assert.True(g.Kept >= Math.Floor(0.2 * g.Channels), $"{g.Id} keeps {g.Kept} of {g.Channels}"));
        Assert.Contains(result.Best.Groups, g => g.Kept < g.Channels);
        var journal = File.ReadAllLines(Path.Combine(SearchDir("s"), "trials.jsonl"));
        Assert.True(journal.Length >= 4, $"{journal.Length} journal lines");

        // A search killed after its third scored trial (the journal cut there, a torn line after it, no result yet) and
        // resumed: the three come from the journal, the rest are scored again, and the best policy is the same.
        Directory.CreateDirectory(SearchDir("k"));
        File.WriteAllLines(Path.Combine(SearchDir("k"), "trials.jsonl"), journal.Take(4).Append(journal[4][..10]));
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=k");
        Assert.Equal(2, code);
        Assert.Contains("--resume", err);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=k", "--resume");
        Assert.True(code == 0, err);
        var resumed = SearchResult.Load(Path.Combine(SearchDir("k"), "search-result.json"));
        Assert.Equal(result.Best.Groups.Select(g => g.Kept), resumed.Best.Groups.Select(g => g.Kept));
        Assert.Equal(result.Best.Score, resumed.Best.Score);
        Assert.Equal(result.History.Select(h => h.Reward), resumed.History.Select(h => h.Reward));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(verbs.Work, "runs", "k", "search", "summary.json"))).RootElement;
        Assert.True(summary.GetProperty("trials_from_journal").GetInt32() >= 3);

        // The journal of another search (another seed) is refused, not replayed.
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=k2", "--Search:Seed=4");
        Assert.True(code == 0, err);
        File.Copy(Path.Combine(SearchDir("s"), "trials.jsonl"), Path.Combine(SearchDir("k2"), "other.jsonl"));
        File.Delete(Path.Combine(SearchDir("k2"), "search-result.json"));
        File.Move(Path.Combine(SearchDir("k2"), "other.jsonl"), Path.Combine(SearchDir("k2"), "trials.jsonl"), overwrite: true);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=k2", "--Search:Seed=4", "--resume");
        Assert.NotEqual(0, code);
        Assert.Contains("belongs to a search of other settings", err);
    }

    [Fact]
    public void A_search_with_BatchNorm_recalibration_keeps_its_own_journal_and_the_setting_is_refused_where_it_does_not_apply()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = Search(checkpoint, "--Trainer:RunName=bn", "--Search:BatchNormBatches=2");
        Assert.True(code == 0, err);
        var result = SearchResult.Load(Path.Combine(SearchDir("bn"), "search-result.json"));
        Assert.True(result.Best.Macs <= result.Best.Budget);
        // The journal of a search without it is of other settings: its scores were of copies with stale statistics.
        var journal = File.ReadAllText(Path.Combine(SearchDir("bn"), "trials.jsonl"));
        Assert.Contains("batchnorm 2 x", journal);

        (code, _, err) = Search(checkpoint, "--Trainer:RunName=bn2", "--Search:BatchNormBatches=-1");
        Assert.Equal(2, code);
        Assert.Contains("Search:BatchNormBatches = -1 is invalid", err);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=bn3", "--Search:BatchNormBatches=2", "--Search:Method=netadapt");
        Assert.Equal(2, code);
        Assert.Contains("does not apply to Search:Method = 'netadapt'", err);
        Assert.False(Directory.Exists(SearchDir("bn3")) && Directory.EnumerateFiles(SearchDir("bn3")).Any());
    }

    [Fact]
    public void A_search_with_a_finetuned_reward_trains_each_trial_copy_before_scoring_it_and_refuses_what_it_cannot_combine()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = Search(checkpoint, "--Trainer:RunName=plain");
        Assert.True(code == 0, err);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=ft", "--Search:RewardFinetuneSteps=3");
        Assert.True(code == 0, err);
        var plain = SearchResult.Load(Path.Combine(SearchDir("plain"), "search-result.json"));
        var finetuned = SearchResult.Load(Path.Combine(SearchDir("ft"), "search-result.json"));
        Assert.True(finetuned.Best.Macs <= finetuned.Best.Budget);
        Assert.Null(finetuned.Model);
        // The GA's first generation is drawn from the seed alone: the same four policies, scored after three training steps.
        Assert.Equal(plain.History.Take(4).Select(t => string.Join(",", t.Kept)), finetuned.History.Take(4).Select(t => string.Join(",", t.Kept)));
        Assert.NotEqual(plain.History.Take(4).Select(t => t.Score), finetuned.History.Take(4).Select(t => t.Score));
        Assert.Contains("reward finetune 3 at 0.01 batch", File.ReadAllText(Path.Combine(SearchDir("ft"), "trials.jsonl")));
        var trials = Path.Combine(SearchDir("ft"), "trials");
        var spec = TrialSpec.Load(Directory.GetFiles(trials, "trial-*.json").First(f => !f.EndsWith(".result.json")));
        Assert.Equal(TrialSpec.FinetunedPolicyScoreKind, spec.Kind);
        Assert.Equal(3, spec.Base!.Finetune.Steps);

        AssertRefused(checkpoint, "--Search:RewardFinetuneSteps=3",
            ("--Search:RewardFinetuneSteps=-1", "Search:RewardFinetuneSteps = -1 is invalid"),
            ("--Search:Method=netadapt", "Search:RewardFinetuneSteps = 3 does not apply to Search:Method = 'netadapt'"),
            ("--Search:BatchNormBatches=2", "Search:RewardFinetuneSteps = 3 with Search:BatchNormBatches = 2"),
            ("--Search:Pruner=fpgm", "Search:RewardFinetuneSteps = 3 with Search:Pruner = 'fpgm'"));
    }

    [Fact]
    public void Finalists_are_the_best_distinct_policies_of_the_search_scored_again_after_training_and_the_best_of_them_is_the_result()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = Search(checkpoint, "--Trainer:RunName=plain");
        Assert.True(code == 0, err);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=fin", "--Search:Finalists=3", "--Search:FinalistFinetuneSteps=3");
        Assert.True(code == 0, err);
        var plain = SearchResult.Load(Path.Combine(SearchDir("plain"), "search-result.json"));
        var final = SearchResult.Load(Path.Combine(SearchDir("fin"), "search-result.json"));
        Assert.Null(plain.Finalists);
        // The search itself is unchanged; its three best distinct policies are the finalists, in its order.
        Assert.Equal(plain.History.Select(h => h.Reward), final.History.Select(h => h.Reward));
        var shortlist = FinalistSelection.Shortlist(plain.History, 3);
        Assert.Equal(shortlist.Select(t => t.Index), final.Finalists!.Select(t => t.Index));
        Assert.Equal(shortlist.Select(t => t.Kept), final.Finalists!.Select(t => t.Kept));
        // Scored again after three training steps: other scores, and the best of them is the result.
        Assert.NotEqual(shortlist.Select(t => t.Score), final.Finalists!.Select(t => t.Score));
        var winner = final.Finalists!.MaxBy(t => t.Reward)!;
        Assert.Equal(winner.Kept, final.Best.Groups.Select(g => g.Kept));
        Assert.Equal(winner.Score, final.Best.Score);
        Assert.True(final.Best.Macs <= final.Best.Budget);
        var specs = Directory.GetFiles(Path.Combine(SearchDir("fin"), "trials"), "trial-*.json").Where(f => !f.EndsWith(".result.json"))
            .Select(TrialSpec.Load).Where(spec => spec.Kind == TrialSpec.FinetunedPolicyScoreKind).ToList();
        Assert.Equal(3, specs.Count);
        Assert.All(specs, spec => Assert.Equal(3, spec.Base!.Finetune.Steps));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(verbs.Work, "runs", "fin", "search", "summary.json"))).RootElement;
        Assert.Equal(3, summary.GetProperty("finalists").GetInt32());

        // On a local pool of two workers the finalists are worker trials with the same scores, and the same one wins.
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=finpool", "--Search:Finalists=3", "--Search:FinalistFinetuneSteps=3",
            "--Search:Runner=local", "--Search:Workers=2", "--Search:ThreadsPerWorker=1");
        Assert.True(code == 0, err);
        var pooled = SearchResult.Load(Path.Combine(SearchDir("finpool"), "search-result.json"));
        Assert.Equal(final.Finalists!.Select(t => (t.Index, t.Score)), pooled.Finalists!.Select(t => (t.Index, t.Score)));
        Assert.Equal(final.Best.KeptChannels, pooled.Best.KeptChannels);

        AssertRefused(checkpoint, "--Search:Finalists=3",
            ("--Search:Finalists=-1", "Search:Finalists = -1 is invalid"),
            ("--Search:Method=netadapt", "Search:Finalists = 3 does not apply to Search:Method = 'netadapt'"),
            ("--Search:FinalistFinetuneSteps=0", "Search:FinalistFinetuneSteps = 0 is invalid with Search:Finalists = 3"),
            ("--Search:Pruner=fpgm", "Search:Finalists = 3 with Search:Pruner = 'fpgm'"));
    }

    [Fact]
    public void A_budget_below_the_reachable_minimum_and_a_floor_above_one_are_refused_by_key()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = Search(checkpoint, "--Search:TargetFlopsRatio=0.01", "--Search:LayerFloor=0.5");
        Assert.Equal(2, code);
        Assert.Contains("Search:TargetFlopsRatio", err);
        Assert.Matches(@"\d", err);   // the reachable minimum is named

        (code, _, err) = Search(checkpoint, "--Search:LayerFloor=1.5");
        Assert.Equal(2, code);
        Assert.Contains("Search:LayerFloor = 1.5 is invalid", err);
    }

    [Fact]
    public void A_search_prunes_its_trials_with_the_configured_compressor_and_refuses_a_pruner_it_cannot_use()
    {
        var checkpoint = Checkpoint();
        string[] channelPruning = ["--Compression:Plugins:0=ChannelPruning", "--Search:Pruner=channel-pruning", "--Search:PrunerSettings:trainset_ratio=0.5"];
        var (code, _, err) = Search(checkpoint, ["--Trainer:RunName=cp", "--Search:Generations=1", .. channelPruning]);
        Assert.True(code == 0, err);
        var result = SearchResult.Load(Path.Combine(SearchDir("cp"), "search-result.json"));
        Assert.True(result.Best.Macs <= result.Best.Budget);
        var journal = File.ReadAllLines(Path.Combine(SearchDir("cp"), "trials.jsonl"));
        // Its scores are of other copies than L1's: the pruner is part of the journal's fingerprint.
        Assert.Contains("pruner channel-pruning {trainset_ratio=0.5}", journal[0]);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=l1", "--Search:Generations=1");
        Assert.True(code == 0, err);
        var l1 = SearchResult.Load(Path.Combine(SearchDir("l1"), "search-result.json"));
        // The same seed proposes the same first generation; LASSO with reconstruction scores those policies differently.
        Assert.Equal(l1.History[0].Kept, result.History[0].Kept);
        Assert.NotEqual(l1.History.Select(h => h.Score), result.History.Select(h => h.Score));
        // A built-in criterion other than L1 (FPGM) runs in process and names itself in the fingerprint too.
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=fpgm", "--Search:Generations=1", "--Search:Pruner=fpgm");
        Assert.True(code == 0, err);
        Assert.Contains("pruner fpgm {}", File.ReadLines(Path.Combine(SearchDir("fpgm"), "trials.jsonl")).First());

        (code, _, err) = Search(checkpoint, "--Trainer:RunName=cp2", "--Search:Pruner=nope");
        Assert.Equal(2, code);
        Assert.Contains("Search:Pruner = 'nope' is neither built in (l1, l2, fpgm) nor a loaded compressor", err);
        Assert.False(Directory.Exists(SearchDir("cp2")) && Directory.EnumerateFiles(SearchDir("cp2")).Any());
        (code, _, err) = Search(checkpoint, ["--Trainer:RunName=cp3", .. channelPruning, "--Search:PrunerSettings:method=magic"]);
        Assert.Equal(2, code);
        Assert.Contains("Search:PrunerSettings", err);
        Assert.Contains("method", err);
        (code, _, err) = Search(checkpoint, "--Trainer:RunName=cp5", "--Search:Pruner=fpgm", "--Search:PrunerSettings:method=lasso");
        Assert.Equal(2, code);
        Assert.Contains("the built-in Search:Pruner = 'fpgm' takes none", err);
        (code, _, err) = Search(checkpoint, ["--Trainer:RunName=cp4", .. channelPruning, "--Search:Method=netadapt"]);
        Assert.Equal(2, code);
        Assert.Contains("Search:Pruner = 'channel-pruning' does not apply to Search:Method = 'netadapt'", err);
    }
}
