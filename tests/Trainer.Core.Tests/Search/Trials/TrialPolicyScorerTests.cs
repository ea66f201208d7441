using System.Text.Json;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;

namespace Trainer.Core.Tests.Search.Trials;

/// <summary>Policies scored as trials: spec files written per batch, run in process, results read back exactly; a result in
/// place is reused; failures are reported by index; the journal sends only unjournaled policies as one batch.</summary>
public sealed class TrialPolicyScorerTests : IDisposable
{
    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("trials-");
    private readonly Dictionary<string, string> config = new() { ["Model:Name"] = "fashion-cnn", ["Search:Seed"] = "3" };

    public void Dispose() => folder.Delete(recursive: true);

    private TrialSpec SpecFor(IReadOnlyDictionary<string, int> policy) => TrialSpec.ForPolicy("fashion-cnn weights 0123", config, "/work", policy, 1);

    /// <summary>What `trainer trial` does, with the synthetic score: read the spec, score its policy, write the result.</summary>
    private static void RunSynthetic(TrialFiles files, int attempt)
    {
        var spec = TrialSpec.Load(files.SpecPath);
        if (spec.Fingerprint != "fashion-cnn weights 0123") throw new InvalidTrialSpecException("another model");
        TrialResult.Of(spec, new PolicyScore(SearchFixtures.Synthetic(spec.Policy), 1234), 0.5, attempt).Save(files.ResultPath);
    }

    private static Dictionary<string, int> Policy(int conv1, int conv3) => new() { ["conv1"] = conv1, ["conv2"] = 40, ["conv3"] = conv3, ["fc1"] = 100 };

    [Fact]
    public void ABatchIsWrittenAsSpecsRunAndReadBackExactlyAndResultsInPlaceAreReused()
    {
        var calls = new List<string>();
        var runner = new InProcessTrialRunner((f, a) => { calls.Add(f.SpecPath); RunSynthetic(f, a); });
        var scorer = new TrialPolicyScorer(runner, folder.FullName, SpecFor);
        var policies = new List<IReadOnlyDictionary<string, int>> { Policy(32, 50), Policy(10, 120), Policy(32, 50) };

        var scores = scorer.ScoreAll(policies);
        Assert.Equal(policies.Select(p => SearchFixtures.Synthetic(p)), scores.Select(s => s.Score));
        Assert.All(scores, s => Assert.Equal(1234, s.Parameters));
        // The repeated policy ran once; files are named by the spec's hash.
        Assert.Equal(2, calls.Count);
        Assert.Equal(2, scorer.Ran);
        Assert.Equal(1, scorer.Batches);
        var spec = TrialSpec.Load(scorer.FilesOf(SpecFor(Policy(10, 120))).SpecPath);
        Assert.Equal(("policy-score", 1, 120, "fashion-cnn"), (spec.Kind, spec.Version, spec.Policy["conv3"], spec.Config["Model:Name"]));
        Assert.Equal(4, folder.GetFiles().Length);

        // A resumed search asks again: the results in place answer, nothing runs.
        var again = new TrialPolicyScorer(runner, folder.FullName, SpecFor);
        Assert.Equal(scores, again.ScoreAll(policies));
        Assert.Equal((0, 3), (again.Ran, again.Reused));
        Assert.Equal(2, calls.Count);
    }

    [Fact]
    public void SpecAndResultRoundTripTheirJsonAndTheScoreBitForBit()
    {
        var spec = SpecFor(Policy(7, 33));
        var path = Path.Combine(folder.FullName, "spec.json");
        spec.Save(path);
        var loaded = TrialSpec.Load(path);
        Assert.Equal(spec.ToJson(), loaded.ToJson());
        Assert.Equal(spec.Hash(), loaded.Hash());
        double score = 0.1 + 0.2;   // not representable in few digits
        TrialResult.Of(loaded, new PolicyScore(score, 9), 1.25, 2).Save(path + ".result");
        var result = TrialResult.Load(path + ".result", spec);
        Assert.Equal(BitConverter.DoubleToInt64Bits(score), BitConverter.DoubleToInt64Bits(result.Score));
        Assert.Equal((9L, 2), (result.Parameters!.Value, result.Attempt));
        Assert.Contains(":" + Environment.ProcessId, result.Worker);

        // A result never answers another spec; a spec of a version this build does not read (it reads 1 and 2) is refused by name.
        Assert.Contains("answers another spec", Assert.Throws<InvalidDataException>(() => TrialResult.Load(path + ".result", SpecFor(Policy(8, 33)))).Message);
        var json = JsonDocument.Parse(File.ReadAllText(path)).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value);
        json["version"] = 3;
        File.WriteAllText(path, JsonSerializer.Serialize(json));
        Assert.Contains("version 3", Assert.Throws<InvalidTrialSpecException>(() => TrialSpec.Load(path)).Message);
    }

    [Fact]
    public void AFailedTrialIsRetriedUpToTheLimitThenNamedByIndex()
    {
        int attempts = 0;
        var flaky = new InProcessTrialRunner((f, a) => { if (++attempts == 1) throw new IOException("disk hiccup"); RunSynthetic(f, a); }, maxAttempts: 2);
        var score = new TrialPolicyScorer(flaky, folder.FullName, SpecFor).Score(Policy(20, 60));
        Assert.Equal(SearchFixtures.Synthetic(Policy(20, 60)), score.Score);
        Assert.Equal(2, JsonDocument.Parse(File.ReadAllText(Directory.GetFiles(folder.FullName, "*.result.json").Single()))
            .RootElement.GetProperty("attempt").GetInt32());

        var broken = new InProcessTrialRunner((f, a) => { if (f.SpecPath.Contains(SpecFor(Policy(9, 99)).Hash())) throw new IOException("no space"); RunSynthetic(f, a); }, 2);
        var e = Assert.Throws<TrialFailedException>(() => new TrialPolicyScorer(broken, folder.FullName, SpecFor)
            .ScoreAll([Policy(11, 60), Policy(9, 99)]));
        var failure = Assert.Single(e.Failures);
        Assert.Equal((1, 2, false), (failure.Outcome.Index, failure.Outcome.Attempts, failure.Outcome.Succeeded));
        Assert.Contains("trial 1", e.Message);
        Assert.Contains("no space", e.Message);
    }

    [Fact]
    public void TheJournalReplaysKnownPoliciesAndSendsTheRestAsOneBatch()
    {
        var batches = new List<int>();
        var inner = new InProcessTrialRunner(RunSynthetic);
        var trials = new TrialPolicyScorer(inner, folder.FullName, SpecFor);
        var counting = new BatchCounter(trials, batches);
        var journal = Path.Combine(folder.FullName, "trials.jsonl");
        var first = new JournaledPolicyScorer(counting, journal, "fp");
        var a = first.ScoreAll([Policy(32, 50), Policy(10, 120)]);
        var resumed = new JournaledPolicyScorer(counting, journal, "fp");
        Assert.Equal(2, resumed.Journaled);
        var b = resumed.ScoreAll([Policy(10, 120), Policy(12, 40), Policy(12, 40), Policy(32, 50)]);
        Assert.Equal([2, 1], batches);
        Assert.Equal((1, 3), (resumed.Scored, resumed.Replayed));
        Assert.Equal([a[1], b[1], b[1], a[0]], b);
        Assert.Equal(4, File.ReadAllLines(journal).Length);
    }

    private sealed class BatchCounter(IPolicyScorer inner, List<int> batches) : IPolicyScorer
    {
        public PolicyScore Score(IReadOnlyDictionary<string, int> keptChannels) => throw new InvalidOperationException("batches only");

        public IReadOnlyList<PolicyScore> ScoreAll(IReadOnlyList<IReadOnlyDictionary<string, int>> policies)
        {
            batches.Add(policies.Count);
            return inner.ScoreAll(policies);
        }
    }
}
