using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Trainer.Host.Jobs;

namespace Trainer.Host.Tests.Cli;

/// <summary>Bad input to `trainer search` and `trainer trial` in the folders of a finished search: a budget below the reachable
/// minimum, a layer floor above 1, the Slurm runner without sbatch on the PATH, a trial spec of another model. Each is one
/// error line naming the problem, exit code 2, and every file of the earlier search stays byte for byte as it was.</summary>
public sealed class SearchBadInputTests : IDisposable
{
    private const string Previous = "prev";
    private readonly CompressVerbTests verbs = new();
    private readonly string checkpoint;

    public SearchBadInputTests()
    {
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=base");
        Assert.True(code == 0, err);
        checkpoint = Path.Combine(verbs.Work, "ckpt", "base", "best.ckpt");
        (code, _, err) = Search();
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(verbs.Work, "ckpt", Previous, "search", SearchJob.ResultFileName)));
    }

    public void Dispose() => verbs.Dispose();

    private (int Code, string Out, string Err) Search(params string[] extra) => verbs.Cli("search",
        [$"--Model:Checkpoint={checkpoint}", "--Search:Method=genetic", "--Search:Population=4", "--Search:Generations=1",
         "--Search:TargetFlopsRatio=0.5", "--Search:HeldOutSamples=64", "--Search:Seed=3", "--Trainer:Threads=1",
         $"--Trainer:RunName={Previous}", .. extra]);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_budget_below_the_reachable_minimum_is_one_error_naming_the_key_and_the_minimum_and_changes_nothing(bool resume)
    {
        var before = Files();
        var (code, _, err) = Search(["--Search:TargetFlopsRatio=0.01", .. resume ? new[] { "--resume" } : []]);
        var line = OneError(code, err);
        Assert.Contains("Search:TargetFlopsRatio", line);
        Assert.Matches(@"smallest reachable .*0\.\d+", line);
        Assert.Equal(before, Files());
    }

    [Fact]
    public void A_layer_floor_above_one_is_one_error_naming_the_key_and_changes_nothing()
    {
        var before = Files();
        var (code, _, err) = Search("--Search:LayerFloor=1.5", "--resume");
        var line = OneError(code, err);
        Assert.Contains("Search:LayerFloor = 1.5 is invalid", line);
        Assert.Equal(before, Files());
    }

    [Fact]
    public void The_slurm_runner_without_sbatch_on_the_path_is_one_error_and_changes_nothing()
    {
        var before = Files();
        var path = Environment.GetEnvironmentVariable("PATH");
        var emptyBin = Directory.CreateDirectory(Path.Combine(verbs.Work, "empty-bin")).FullName;
        (int Code, string Out, string Err) result;
        try
        {
            Environment.SetEnvironmentVariable("PATH", emptyBin);
            result = Search("--Search:Runner=slurm", "--resume");
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
        }
        var line = OneError(result.Code, result.Err);
        Assert.Contains("sbatch", line);
        Assert.Equal(before, Files());
    }

    [Fact]
    public void A_trial_spec_of_another_model_is_one_error_and_leaves_the_earlier_result_in_place()
    {
        var trials = Path.Combine(verbs.Work, "ckpt", Previous, "search", SearchJob.TrialsFolderName);
        var spec = Directory.GetFiles(trials, "trial-*.json").First(f => !f.EndsWith(".result.json"));
        var result = spec[..^".json".Length] + ".result.json";
        var (code, _, err) = verbs.Cli("train", "--Trainer:RunName=other", "--Trainer:Seed=5");
        Assert.True(code == 0, err);
        var node = JsonNode.Parse(File.ReadAllText(spec))!;
        node["config"]!["Model:Checkpoint"] = Path.Combine(verbs.Work, "ckpt", "other", "best.ckpt");
        var otherSpec = Path.Combine(verbs.Work, "other-model.json");
        File.WriteAllText(otherSpec, node.ToJsonString());

        // Pointed at the earlier trial's result file: refused before anything is written there.
        var before = Files();
        var (trialCode, _, trialErr) = HostProcess.Run(verbs.Work, new Dictionary<string, string> { ["OMP_NUM_THREADS"] = "1" },
            "trial", otherSpec, "--result", result);
        var line = OneError(trialCode, trialErr);
        Assert.Contains("is of another model or search", line);
        Assert.Equal(before, Files());
    }

    /// <summary>Exit code 2 and exactly one error line on stderr; returns it.</summary>
    private static string OneError(int code, string err)
    {
        Assert.True(code == 2, $"exit {code}:\n{err}");
        var errors = err.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, $"{errors.Count} error lines:\n{err}");
        return errors[0];
    }

    /// <summary>Every file of the earlier search (its checkpoint and log folders): relative path → SHA-256.</summary>
    private SortedDictionary<string, string> Files()
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var root in new[] { "ckpt", "runs" }.Select(r => Path.Combine(verbs.Work, r, Previous)))
            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
                files[Path.GetRelativePath(verbs.Work, file)] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        Assert.NotEmpty(files);
        return files;
    }
}
