using System.Text.Json;
using Trainer.Core.Compression;
using Trainer.Core.Models;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer search` with NNI's automatic pruners: NetAdapt and AutoCompress on the tiny trained model meet the MACs
/// budget, and their settings are checked at start-up; NetAdapt's candidates run on a local pool as in process, and the model
/// it finetuned is kept beside its result.</summary>
public sealed class AutoPruneSearchVerbTests : IDisposable
{
    private readonly CompressVerbTests verbs = new();

    public void Dispose() => verbs.Dispose();

    private string Checkpoint()
    {
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=base");
        Assert.True(code == 0, err);
        return Path.Combine(verbs.Work, "ckpt", "base", "best.ckpt");
    }

    private SearchResult Result(string run) => SearchResult.Load(Path.Combine(verbs.Work, "ckpt", run, "search", "search-result.json"));

    [Fact]
    public void NetAdaptNarrowsOneGroupPerIterationUntilTheBudgetIsMetAndBadSettingsAreRefusedByKey()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = verbs.Cli("search", $"--Model:Checkpoint={checkpoint}", "--Search:Method=netadapt", "--Search:TargetFlopsRatio=0.6",
            "--Search:NetAdaptStep=0.1", "--Search:FinetuneSteps=2", "--Search:HeldOutSamples=64", "--Trainer:RunName=na");
        Assert.True(code == 0, err);
        var result = Result("na");
        Assert.Equal("netadapt", result.Best.Method);
        Assert.True(result.Best.Macs <= result.Best.Budget, $"{result.Best.Macs} > {result.Best.Budget}");
        // Steps of a tenth of the MACs to 0.6: at most four iterations, the last clamped to the budget.
        int rounds = result.History.Max(t => t.Round) + 1;
        Assert.InRange(rounds, 1, 4);
        Assert.Contains(result.Best.Groups, g => g.Kept < g.Channels);
        Assert.True(File.Exists(Path.Combine(verbs.Work, "ckpt", "na", "search", "trials.jsonl")));

        (code, _, err) = verbs.Cli("search", $"--Model:Checkpoint={checkpoint}", "--Search:Method=netadapt", "--Search:NetAdaptStep=1.5",
            "--Search:FinetuneSteps=0");
        Assert.Equal(2, code);
        Assert.Contains("Search:NetAdaptStep = 1.5 is invalid", err);
        Assert.Contains("Search:FinetuneSteps = 0 is invalid", err);
    }

    private (int Code, string Out, string Err) NetAdapt(string checkpoint, string run, params string[] extra) => verbs.Cli("search",
        [$"--Model:Checkpoint={checkpoint}", "--Search:Method=netadapt", "--Search:TargetFlopsRatio=0.6", "--Search:NetAdaptStep=0.1",
         "--Search:FinetuneSteps=2", "--Search:HeldOutSamples=64", "--Trainer:Threads=1", $"--Trainer:RunName={run}", .. extra]);

    [Fact]
    public void NetAdaptOnALocalPoolOfTwoWorkersChoosesThePolicyOfInProcessWithTheSameScoresAndKeepsItsFinalModel()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = NetAdapt(checkpoint, "na-in");
        Assert.True(code == 0, err);
        (code, _, err) = NetAdapt(checkpoint, "na-pool", "--Search:Runner=local", "--Search:Workers=2", "--Search:ThreadsPerWorker=1");
        Assert.True(code == 0, err);

        var inProcess = Result("na-in");
        var pool = Result("na-pool");
        Assert.True(inProcess.History.Max(t => t.Round) >= 1, "the test needs a base adopted between iterations");
        Assert.Equal(inProcess.History.Select(t => (t.Round, t.Score, t.Reward, string.Join(",", t.Kept))),
            pool.History.Select(t => (t.Round, t.Score, t.Reward, string.Join(",", t.Kept))));
        Assert.Equal(inProcess.Best.KeptChannels, pool.Best.KeptChannels);
        Assert.Equal(inProcess.Best.Score, pool.Best.Score);
        // The pool's candidates ran in two worker processes, each spec naming a base file of the trials folder.
        var trials = Path.Combine(verbs.Work, "ckpt", "na-pool", "search", "trials");
        var workers = Directory.GetFiles(trials, "*.result.json")
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement.GetProperty("worker").GetString()!).ToList();
        Assert.Equal(pool.History.Count, workers.Count);
        Assert.Equal(2, workers.Distinct().Count());
        Assert.DoesNotContain($"{Environment.MachineName}:{Environment.ProcessId}", workers);
        var specPath = Directory.GetFiles(trials, "trial-*.json").First(f => !f.EndsWith(".result.json"));
        var spec = TrialSpec.Load(specPath);
        Assert.Equal(TrialSpec.FinetunedPolicyScoreKind, spec.Kind);
        Assert.Equal(trials, Path.GetDirectoryName(spec.Base!.Weights));

        // `trainer trial` on a candidate whose base file is gone: one error naming the file, exit code 2, no result.
        var gone = Path.Combine(verbs.Work, "gone.json");
        (spec with { Base = spec.Base with { Weights = Path.Combine(verbs.Work, "base-gone.bin") } }).Save(gone);
        var refused = Path.Combine(verbs.Work, "gone.result.json");
        var (trialCode, _, trialErr) = HostProcess.Run(verbs.Work, new Dictionary<string, string> { ["Trainer__Threads"] = "1" }, "trial", gone, "--result", refused);
        Assert.Equal(2, trialCode);
        Assert.Single(trialErr.Split('\n'), l => l.StartsWith("error:"));
        Assert.Contains($"'{Path.Combine(verbs.Work, "base-gone.bin")}', which do not exist", trialErr);
        Assert.False(File.Exists(refused));

        // The final adopted base beside the result: the same bits from either runner (the last base file of the trials), and
        // it rebuilds to the chosen widths.
        Assert.NotNull(pool.Model);
        Assert.Equal(inProcess.Model!.WeightsHash, pool.Model!.WeightsHash);
        Assert.True(File.Exists(Path.Combine(trials, $"base-{pool.Model.WeightsHash}.bin")));
        var resultPath = Path.Combine(verbs.Work, "ckpt", "na-pool", "search", "search-result.json");
        using (var model = pool.Model.Load(resultPath, ModelCatalog.Get("fashion-cnn").Create, [1, 1, 28, 28]))
        {
            var widths = model.named_parameters().Where(p => p.name.EndsWith(".weight") && p.parameter.dim() > 1)
                .ToDictionary(p => p.name[..^".weight".Length], p => (int)p.parameter.shape[0]);
            foreach (var (group, kept) in pool.Best.KeptChannels) Assert.Equal(kept, widths[group]);
        }

        // `trainer compress` applies the searched policy to the original model as before.
        (code, _, err) = verbs.Cli("compress", $"--Model:Checkpoint={checkpoint}", "--Compression:Plugins:0=ChannelPruning",
            "--Compression:Compressor=channel-pruning", "--Compression:Settings:method=l1", "--Compression:Allocation=searched",
            $"--Compression:Policy={resultPath}", "--Compression:RoundTo=1", "--Compression:FinetuneEpochs=0", "--Trainer:RunName=na-compress");
        Assert.True(code == 0, err);
        var manifest = CompressionManifest.Load(Path.Combine(verbs.Work, "ckpt", "na-compress", "compress", "manifest.json"));
        foreach (var (group, kept) in pool.Best.KeptChannels) Assert.Equal(kept, manifest.Iterations.Single().Channels[group]);
    }

    [Fact]
    public void AutoCompressRoundsMeetTheBudgetAndBadAdmmSettingsAreRefusedByKey()
    {
        var checkpoint = Checkpoint();
        var (code, _, err) = verbs.Cli("search", $"--Model:Checkpoint={checkpoint}", "--Search:Method=autocompress", "--Search:TargetFlopsRatio=0.5",
            "--Search:AutoCompressRounds=2", "--Search:AdmmIterations=2", "--Search:AdmmSteps=2", "--Search:AdmmRho=0.01",
            "--Search:HeldOutSamples=64", "--Trainer:RunName=ac");
        Assert.True(code == 0, err);
        var result = Result("ac");
        Assert.Equal("autocompress", result.Best.Method);
        Assert.True(result.Best.Macs <= result.Best.Budget, $"{result.Best.Macs} > {result.Best.Budget}");
        Assert.Equal([1, 2], result.History.Select(t => t.Round).Distinct());
        // Its ADMM-trained, shrunk model beside the result, one shrink per round on the architecture.
        var resultPath = Path.Combine(verbs.Work, "ckpt", "ac", "search", "search-result.json");
        Assert.Equal(2, result.Model!.Edits.Count);
        using (var model = result.Model.Load(resultPath, ModelCatalog.Get("fashion-cnn").Create, [1, 1, 28, 28]))
            Assert.Equal(result.Best.KeptChannels["conv1"], model.named_parameters().Single(p => p.name == "conv1.weight").parameter.shape[0]);

        (code, _, err) = verbs.Cli("search", $"--Model:Checkpoint={checkpoint}", "--Search:Method=autocompress", "--Search:AdmmRho=0",
            "--Search:AdmmNorm=l3");
        Assert.Equal(2, code);
        Assert.Contains("Search:AdmmRho = 0 is invalid", err);
        Assert.Contains("Search:AdmmNorm = 'l3' is invalid", err);
    }
}
