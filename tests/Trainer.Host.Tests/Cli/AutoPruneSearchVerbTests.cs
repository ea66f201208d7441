using Trainer.Core.Search;

namespace Trainer.Host.Tests.Cli;

/// <summary>`trainer search` with NNI's automatic pruners: NetAdapt and AutoCompress on the tiny trained model meet the MACs
/// budget, and their settings are checked at start-up.</summary>
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
            "--Search:FinetuneSteps=0", "--Search:Runner=local");
        Assert.Equal(2, code);
        Assert.Contains("Search:NetAdaptStep = 1.5 is invalid", err);
        Assert.Contains("Search:FinetuneSteps = 0 is invalid", err);
        Assert.Contains("Search:Runner = 'local' is invalid with Search:Method = netadapt", err);
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

        (code, _, err) = verbs.Cli("search", $"--Model:Checkpoint={checkpoint}", "--Search:Method=autocompress", "--Search:AdmmRho=0",
            "--Search:AdmmNorm=l3");
        Assert.Equal(2, code);
        Assert.Contains("Search:AdmmRho = 0 is invalid", err);
        Assert.Contains("Search:AdmmNorm = 'l3' is invalid", err);
    }
}
