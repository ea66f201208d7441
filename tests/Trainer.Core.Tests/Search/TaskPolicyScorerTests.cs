using Trainer.Abstractions;
using Trainer.Abstractions.Tasks;
using Trainer.Core.Data;
using Trainer.Core.Graph;
using Trainer.Core.Models;
using Trainer.Core.Pruning;
using Trainer.Core.Search;
using Trainer.Core.Tasks;
using Trainer.Core.Training;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Search;

public sealed class TaskPolicyScorerTests
{
    [Fact]
    public void APolicyIsScoredOnAnL1PrunedCopyAndTheModelIsNotChanged()
    {
        using var _ = NewDisposeScope();
        manual_seed(11);
        var model = new FashionCnn();
        model.eval();
        var inputs = randn(96, 1, 28, 28);
        Tensor labels;
        using (no_grad()) labels = model.call(inputs).argmax(1);
        var heldOut = new TensorBatchLoader(inputs, labels, 32, shuffle: false);
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        using var task = new LabelledTask();
        var scorer = new TaskPolicyScorer(task, () => new FashionCnn(), model, SearchFixtures.FashionShape, heldOut);

        // Kept whole: the labels are the model's own predictions.
        var full = scorer.Score(new Dictionary<string, int> { ["conv1"] = 32, ["conv2"] = 64, ["conv3"] = 128, ["fc1"] = 256 });
        Assert.Equal(1.0, full.Score);
        Assert.Equal(model.parameters().Sum(p => p.numel()), full.Parameters);

        var kept = new Dictionary<string, int> { ["conv1"] = 20, ["conv2"] = 30, ["conv3"] = 50, ["fc1"] = 100 };
        var pruned = scorer.Score(kept);

        // The same pruning done by hand: each group has one producer, keep its k filters of largest L1 norm.
        var reference = new FashionCnn();
        reference.load_state_dict(model.state_dict());
        reference.eval();
        var graph = ModelGraph.Build(reference, SearchFixtures.FashionShape);
        var masks = new Dictionary<string, bool[]>();
        foreach (var (id, k) in kept)
        {
            var weight = reference.named_parameters().Single(p => p.name == $"{id}.weight").parameter;
            var l1 = weight.detach().reshape(weight.shape[0], -1).to_type(ScalarType.Float64).abs().sum(1).data<double>().ToArray();
            var top = Enumerable.Range(0, l1.Length).OrderByDescending(c => l1[c]).ThenBy(c => c).Take(k).ToHashSet();
            masks[id] = Enumerable.Range(0, l1.Length).Select(top.Contains).ToArray();
        }
        ChannelShrinker.Shrink(reference, graph, masks, new ShrinkOptions { RoundTo = 1 });
        Assert.Equal(ClassificationAccuracy.Of(reference, heldOut), pruned.Score);
        Assert.Equal(reference.parameters().Sum(p => p.numel()), pruned.Parameters);
        Assert.True(pruned.Score < 1.0);

        foreach (var (name, value) in model.state_dict()) Assert.True(value.equal(before[name]).all().item<bool>(), $"{name} changed");
        Assert.Contains("'conv9'", Assert.Throws<ArgumentException>(() => scorer.Score(new Dictionary<string, int> { ["conv9"] = 3 })).Message);
    }

    [Fact]
    public void SearchResultsRoundTripThroughJson()
    {
        var space = SearchFixtures.FashionSpace();
        var result = GeneticSearch.Run(space, new FuncPolicyScorer(SearchFixtures.Synthetic),
            new GeneticOptions { PopulationSize = 4, Generations = 2, Seed = 1 });
        var folder = Directory.CreateTempSubdirectory("policy-");
        try
        {
            var path = Path.Combine(folder.FullName, "policy.json");
            result.Save(path);
            var loaded = SearchResult.Load(path);
            Assert.Equal(result.Best.KeptChannels, loaded.Best.KeptChannels);
            Assert.Equal(result.Best.Reward, loaded.Best.Reward);
            Assert.Equal(result.Best.Macs, loaded.Best.Macs);
            Assert.Equal(result.History.Select(t => (t.Index, t.Reward, t.Macs, string.Join(",", t.Kept))),
                loaded.History.Select(t => (t.Index, t.Reward, t.Macs, string.Join(",", t.Kept))));
            Assert.Equal(["policy.json"], folder.GetFiles().Select(f => f.Name));
            File.WriteAllText(path, "{ not json");
            Assert.Contains("not a search result", Assert.Throws<InvalidDataException>(() => SearchResult.Load(path)).Message);
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }
}
