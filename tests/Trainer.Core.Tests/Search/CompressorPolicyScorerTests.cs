using Trainer.Abstractions;
using Trainer.Abstractions.Compression;
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

/// <summary>A search's trials pruned by a compressor: the policy reaches it as keep ratios, the copy it returns is scored, and
/// a compressor that cannot or does not keep the policy's counts is refused.</summary>
public sealed class CompressorPolicyScorerTests
{
    private static readonly Dictionary<string, int> Kept = new() { ["conv1"] = 20, ["conv2"] = 30, ["conv3"] = 50, ["fc1"] = 100 };

    [Fact]
    public void TheCompressorChoosesTheChannelsOfTheScoredCopyAndTheModelIsNotChanged()
    {
        using var _ = NewDisposeScope();
        var (model, heldOut) = Fixture();
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        using var task = new LabelledTask();
        var compressor = new FirstChannelsCompressor();
        var scorer = new CompressorPolicyScorer(task, compressor, new Dictionary<string, string>(), () => new FashionCnn(), model,
            SearchFixtures.FashionShape, heldOut, heldOut);

        var pruned = scorer.Score(Kept);

        // The same pruning by hand: each group keeps its first k channels (the test compressor's choice, not L1's).
        var reference = new FashionCnn();
        reference.load_state_dict(model.state_dict());
        reference.eval();
        var masks = Kept.ToDictionary(k => k.Key, k => Enumerable.Range(0, Width(k.Key)).Select(c => c < k.Value).ToArray());
        ChannelShrinker.Shrink(reference, ModelGraph.Build(reference, SearchFixtures.FashionShape), masks, new ShrinkOptions { RoundTo = 1 });
        Assert.Equal(ClassificationAccuracy.Of(reference, heldOut), pruned.Score);
        Assert.Equal(reference.parameters().Sum(p => p.numel()), pruned.Parameters);
        Assert.True(pruned.Score < 1.0);
        // The ratios it was handed give the policy's counts exactly.
        Assert.Equal(Kept.OrderBy(k => k.Key).Select(k => (k.Key, (double)k.Value / Width(k.Key))),
            compressor.LastRatios!.OrderBy(k => k.Key).Select(k => (k.Key, k.Value)));

        using (var copy = scorer.PrunedCopy(Kept))
            Assert.Equal([20L, 30, 50, 100], new[] { "conv1", "conv2", "conv3", "fc1" }.Select(n =>
                copy.named_parameters().Single(p => p.name == $"{n}.weight").parameter.shape[0]));
        foreach (var (name, value) in model.state_dict()) Assert.True(value.equal(before[name]).all().item<bool>(), $"{name} changed");
    }

    [Fact]
    public void ACompressorThatSizesItsLayersItselfOrMissesTheCountsIsRefused()
    {
        using var _ = NewDisposeScope();
        var (model, heldOut) = Fixture();
        using var task = new LabelledTask();
        var sizing = Assert.Throws<ArgumentException>(() => new CompressorPolicyScorer(task, new FirstChannelsCompressor { TakesRatios = false },
            new Dictionary<string, string>(), () => new FashionCnn(), model, SearchFixtures.FashionShape, heldOut, heldOut));
        Assert.Contains("sizes its layers itself", sizing.Message);

        var sloppy = new CompressorPolicyScorer(task, new FirstChannelsCompressor { Extra = 1 }, new Dictionary<string, string>(),
            () => new FashionCnn(), model, SearchFixtures.FashionShape, heldOut, heldOut);
        var missed = Assert.Throws<InvalidOperationException>(() => sloppy.Score(Kept));
        Assert.Contains("group 'conv1' with 21 channels where the policy keeps 20", missed.Message);
        Assert.Contains("'conv9'", Assert.Throws<ArgumentException>(() => sloppy.Score(new Dictionary<string, int> { ["conv9"] = 3 })).Message);
    }

    private static int Width(string group) => group switch { "conv1" => 32, "conv2" => 64, "conv3" => 128, _ => 256 };

    private static (FashionCnn Model, TensorBatchLoader HeldOut) Fixture()
    {
        manual_seed(11);
        var model = new FashionCnn();
        model.eval();
        var inputs = randn(96, 1, 28, 28);
        Tensor labels;
        using (no_grad()) labels = model.call(inputs).argmax(1);
        return (model, new TensorBatchLoader(inputs, labels, 32, shuffle: false));
    }

    /// <summary>Keeps each group's first round(ratio · channels) channels (plus <see cref="Extra"/>), through the editor.</summary>
    private sealed class FirstChannelsCompressor : ICompressor
    {
        public bool TakesRatios { get; init; } = true;
        public int Extra { get; init; }
        public IReadOnlyDictionary<string, double>? LastRatios { get; private set; }
        public string Name => "first-channels";
        public bool UsesGroupKeepRatios => TakesRatios;

        public CompressionResult Compress(CompressionRequest request)
        {
            LastRatios = request.GroupKeepRatios;
            var flags = new Dictionary<string, bool[]>();
            foreach (var group in request.Editor.ChannelGroups)
                if (request.GroupKeepRatios!.TryGetValue(group.Id, out var ratio))
                {
                    int keep = (int)Math.Round(ratio * group.Channels) + Extra;
                    flags[group.Id] = Enumerable.Range(0, group.Channels).Select(c => c < keep).ToArray();
                }
            request.Editor.ShrinkChannels(flags);
            return new CompressionResult(request.Model, [], "first channels");
        }
    }
}
