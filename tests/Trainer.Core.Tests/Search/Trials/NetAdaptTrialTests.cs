using System.Text.Json.Nodes;
using Trainer.Core.Graph;
using Trainer.Core.Search;
using Trainer.Core.Search.Trials;
using Trainer.Core.Tests.Pruning;
using Trainer.Tests.Shared;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search.Trials;

/// <summary>NetAdapt's candidates as trials: each iteration's candidates are spec files naming the adopted base (a weights file
/// and its edits) and are scored by rebuilding that base, which walks the same iterations to the same policy with the same
/// scores as the search's own finetuning scorer; a missing, replaced or unfitting base file is one error naming it; the
/// search's final base reloads from the file beside the result.</summary>
public sealed class NetAdaptTrialTests(ITestOutputHelper output) : IDisposable
{
    private static readonly long[] Shape = [1, 3, 8, 8];
    private static readonly TrialFinetune Finetune = TrialFinetune.Of(new ShortTrainingOptions { Steps = 6, LearningRate = 0.1, Seed = 4 }, 32, 1);
    private readonly DirectoryInfo folder = Directory.CreateTempSubdirectory("netadapt-trials-");

    public void Dispose() => folder.Delete(recursive: true);

    private static TrialSpec Template() => TrialSpec.ForPolicy("tiny weights 42", new Dictionary<string, string> { ["Model:Name"] = "tiny" }, null,
        new Dictionary<string, int>(), 1);

    private static FinetuningPolicyScorer Finetuner(TinyTask task, nn.Module<Tensor, Tensor> model, Abstractions.IBatchLoader heldOut) =>
        new(task, AdmmPruningTests.TinyConvNet, model, Shape, task.TrainLoader(Finetune.BatchSize, Finetune.LoaderSeed, 1.0), heldOut, Finetune.Training);

    /// <summary>What a trial process does with a spec: rebuild the base, score the candidate, write the result.</summary>
    private static Action<TrialFiles, int> RunOn(FinetunedTrialScorer scorer) => (files, attempt) =>
    {
        var spec = TrialSpec.Load(files.SpecPath);
        using var scope = NewDisposeScope();
        TrialResult.Of(spec, scorer.Score(spec, files.SpecPath), 0, attempt).Save(files.ResultPath);
    };

    [Fact]
    public void CandidatesRunAsTrialsFromTheBaseFileChooseTheSamePoliciesWithTheSameScoresAndTheFinalBaseReloads()
    {
        using var scope = NewDisposeScope();
        using var fixture = TinyTaskModel.Create(seed: 7);
        var (task, model) = fixture;
        var heldOut = task.CalibrationLoader(64, 32, 2);
        var space = PolicySpace.Build(model, ModelGraph.Build(model, Shape), 0.5, 0.25);
        var options = new NetAdaptOptions { StepRatio = 0.15 };

        using var direct = Finetuner(task, model, heldOut);
        var expected = NetAdaptSearch.Run(space, direct, options, direct.Adopt);

        using var finetuner = Finetuner(task, model, heldOut);
        var trialsFolder = Path.Combine(folder.FullName, "trials");
        var bases = new AdoptedBaseFiles(finetuner, trialsFolder, Finetune);
        using var candidates = new FinetunedTrialScorer(task, AdmmPruningTests.TinyConvNet, Shape, heldOut, (b, s) => task.TrainLoader(b, s, 1.0));
        var runs = 0;
        var runner = new InProcessTrialRunner((files, attempt) => { runs++; RunOn(candidates)(files, attempt); });
        var trials = new TrialPolicyScorer(runner, trialsFolder, policy => bases.SpecOf(Template(), policy));
        var actual = NetAdaptSearch.Run(space, trials, options, bases.Adopt);

        int rounds = expected.History.Max(t => t.Round) + 1;
        output.WriteLine($"{rounds} iterations, {expected.History.Count} candidates; final {string.Join(",", expected.Best.Groups.Select(g => g.Kept))} " +
                         $"score {expected.Best.Score}");
        Assert.True(rounds >= 2, $"{rounds} iterations: the test needs a base adopted between iterations");
        Assert.Equal(expected.History.Select(t => (t.Round, t.Score, t.Reward, string.Join(",", t.Kept))),
            actual.History.Select(t => (t.Round, t.Score, t.Reward, string.Join(",", t.Kept))));
        Assert.Equal(expected.Best.KeptChannels, actual.Best.KeptChannels);
        Assert.Equal((expected.Best.Score, expected.Best.Reward, expected.Best.Macs), (actual.Best.Score, actual.Best.Reward, actual.Best.Macs));
        // One batch per iteration, one trial per candidate, one base rebuilt per iteration; one base file per adopted model
        // (the first base, then each iteration's), named by content.
        Assert.Equal(rounds, trials.Batches);
        Assert.Equal(expected.History.Count, runs);
        Assert.Equal(rounds, candidates.Rebuilt);
        Assert.Equal(rounds + 1, Directory.GetFiles(trialsFolder, "base-*.bin").Length);
        var spec = TrialSpec.Load(Directory.GetFiles(trialsFolder, "trial-*.json").First(f => !f.EndsWith(".result.json")));
        Assert.Equal((TrialSpec.FinetunedPolicyScoreKind, 2, Finetune), (spec.Kind, spec.Version, spec.Base!.Finetune));
        Assert.Equal(TrialBase.HashOf(spec.Base.Weights), spec.Base.WeightsHash);
        Assert.Equal(rounds, bases.Current.Edits.Count);   // one shrink per adopted candidate on the unedited factory model

        // The search's final base, kept beside its result: reloaded from the file, it scores as the base itself.
        var result = actual with { Model = SearchedModel.Write(folder.FullName, finetuner.Base, finetuner.BaseEdits) };
        var resultPath = Path.Combine(folder.FullName, "search-result.json");
        result.Save(resultPath);
        var loaded = SearchResult.Load(resultPath);
        Assert.Equal(SearchedModel.DefaultFileName, loaded.Model!.Weights);
        using var reloaded = loaded.Model.Load(resultPath, AdmmPruningTests.TinyConvNet, Shape);
        Assert.Equal(task.ScoreOf(finetuner.Base, heldOut), task.ScoreOf(reloaded, heldOut));
        Assert.Equal(expected.Best.KeptChannels["conv1"], reloaded.named_parameters().Single(p => p.name == "conv1.weight").parameter.shape[0]);
    }

    [Fact]
    public void ABaseFileThatIsMissingReplacedOrDoesNotFitIsOneErrorNamingTheFile()
    {
        using var scope = NewDisposeScope();
        using var fixture = TinyTaskModel.Create(seed: 7);
        var (task, model) = fixture;
        var heldOut = task.CalibrationLoader(64, 32, 2);
        using var finetuner = Finetuner(task, model, heldOut);
        var bases = new AdoptedBaseFiles(finetuner, folder.FullName, Finetune);
        bases.Adopt(new Dictionary<string, int> { ["conv1"] = 6, ["conv2"] = 8 });
        using var candidates = new FinetunedTrialScorer(task, AdmmPruningTests.TinyConvNet, Shape, heldOut, (b, s) => task.TrainLoader(b, s, 1.0));
        var spec = bases.SpecOf(Template(), new Dictionary<string, int> { ["conv1"] = 6, ["conv2"] = 5 });
        var specPath = Path.Combine(folder.FullName, "spec.json");
        spec.Save(specPath);
        Assert.True(candidates.Score(TrialSpec.Load(specPath), specPath).Score <= 0);

        // Weights that do not fit: the shrunk base's file without its edits.
        var unfit = spec with { Base = spec.Base! with { Edits = [] } };
        var e = Assert.Throws<InvalidTrialSpecException>(() => candidates.Score(unfit, specPath));
        Assert.Contains($"'{spec.Base!.Weights}'", e.Message);
        Assert.Contains("do not fit", e.Message);

        // A replaced file (another model's weights under the same name), then a missing one.
        var moved = spec.Base.Weights + ".moved";
        File.Move(spec.Base.Weights, moved);
        Trainer.Core.Checkpoints.CheckpointFile.SaveWeights(spec.Base.Weights, AdmmPruningTests.TinyConvNet());
        var other = spec with { Base = spec.Base with { WeightsHash = "0000000000000000" } };
        e = Assert.Throws<InvalidTrialSpecException>(() => candidates.Score(other, specPath));
        Assert.Contains($"'{spec.Base.Weights}'", e.Message);
        Assert.Contains("was replaced", e.Message);
        File.Delete(spec.Base.Weights);
        e = Assert.Throws<InvalidTrialSpecException>(() => candidates.Score(other, specPath));
        Assert.Contains($"'{spec.Base.Weights}', which do not exist", e.Message);
    }

    [Fact]
    public void AVersionOneSpecLoadsWithItsTextAndHashUnchangedAndKindsNeedTheirVersionAndBase()
    {
        var policy = new Dictionary<string, int> { ["conv1"] = 6 };
        var v1 = TrialSpec.ForPolicy("tiny weights 42", new Dictionary<string, string> { ["Model:Name"] = "tiny" }, "/work", policy, 1);
        // The text version 1 wrote (no base key), so results of earlier searches keep their names.
        Assert.Equal(1, v1.Version);
        Assert.DoesNotContain("base", v1.ToJson());
        var path = Path.Combine(folder.FullName, "v1.json");
        File.WriteAllText(path, """
            {"format":"trainer-trial-spec","version":1,"kind":"policy-score","fingerprint":"tiny weights 42","config":{"Model:Name":"tiny"},
             "workingDirectory":"/work","policy":{"conv1":6},"roundTo":1}
            """);
        var loaded = TrialSpec.Load(path);
        Assert.Null(loaded.Base);
        Assert.Equal(v1.Hash(), loaded.Hash());

        var withBase = v1.WithBase(new TrialBase("/tmp/base-0.bin", "0123456789abcdef", [], Finetune));
        Assert.Equal(v1.LoadKey(), withBase.LoadKey());
        void Refused(Action<JsonNode> change, string expected)
        {
            var node = JsonNode.Parse(withBase.ToJson())!;
            change(node);
            File.WriteAllText(path, node.ToJsonString());
            Assert.Contains(expected, Assert.Throws<InvalidTrialSpecException>(() => TrialSpec.Load(path)).Message);
        }
        Refused(n => n["version"] = 3, "reads versions 1 to 2");
        Refused(n => n["version"] = 1, "'finetuned-policy-score' and 'sensitivity-shard' (version 2 on)");
        Refused(n => n.AsObject().Remove("base"), "names no base");
        Refused(n => n["kind"] = "policy-score", "names a base");
        Refused(n => n["base"]!["weightsHash"] = null, "incomplete base");
    }
}
