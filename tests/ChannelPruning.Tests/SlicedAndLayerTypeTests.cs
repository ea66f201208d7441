using Plugins.ChannelPruning;
using Trainer.Core.Analysis;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Tests.Graph;
using Trainer.Core.Tests.Pruning;
using TorchSharp;
using TorchSharp.Modules;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace ChannelPruning.Tests;

/// <summary>
/// The channel-pruning compressor on the models users bring: a concatenation meeting a residual and a gate (sliced group),
/// a layer reading one input of such a concatenation, a Conv1d model and an encoder-decoder with a ConvTranspose2d.
/// </summary>
public sealed class SlicedAndLayerTypeTests(ITestOutputHelper output)
{
    private static readonly long[] ImageShape = [1, 3, 8, 8];

    // Hand-set filter values: branchA's filters (27 weights each) and branchB's (3 each); the shortcut's and the gate's are all
    // 0.01, so group channel c scores 27·|a_c| + 0.07 for c < 8 and 3·|b_(c-8)| + 0.07 above.
    private static readonly float[] A = [0.9f, 0.1f, 0.5f, 0.05f, 0.7f, 0.2f, 0.02f, 0.3f];   // 24.3 2.7 13.5 1.35 18.9 5.4 0.54 8.1
    private static readonly float[] B = [1.0f, 6.0f, 0.5f, 3.0f, 2.0f, 0.1f, 4.0f, 0.2f];     // 3 18 1.5 9 6 0.3 12 0.6

    [Theory]
    // 8 of 16: the eight largest scores, 24.3 18.9 18 13.5 12 9 8.1 6.
    [InlineData("0.5", new[] { 0, 2, 4, 7, 9, 11, 12, 14 })]
    // 2 of 16: the two largest (24.3, 18.9) both lie in branchA's slice, so the best of branchB's (18, channel 9) replaces 18.9.
    [InlineData("0.125", new[] { 0, 9 })]
    public void L1_scores_each_channel_of_a_sliced_group_by_the_producers_that_make_it(string ratio, int[] expected)
    {
        using var fixture = new TinyFixture(seed: 11, factory: () => new ConcatResidualSeNet());
        HandSet(fixture.Model);
        var original = ModelCopy.Create(() => new ConcatResidualSeNet(), ImageShape, [], fixture.Model);

        var result = new ChannelPruningCompressor().Compress(fixture.Request(new() { ["method"] = "l1", ["ratios"] = $"branchA={ratio}" }));

        var note = result.Layers.Single(n => n.Layer == "branchA").Note;
        output.WriteLine(note);
        Assert.StartsWith($"branchA+branchB+excite+shortcut: 16 -> {expected.Length} channels by L1 norm", note);
        var kept = Enumerable.Range(0, 16).Select(c => expected.Contains(c)).ToArray();
        Assert.Equal(kept, KeptByBias(original, fixture.Model, "shortcut"));
        Assert.Equal(kept, KeptByBias(original, fixture.Model, "excite"));
        Assert.Equal(kept[..8], KeptByBias(original, fixture.Model, "branchA"));
        Assert.Equal(kept[8..], KeptByBias(original, fixture.Model, "branchB"));
        AssertShrunkEqualsMasked(original, fixture, () => new ConcatResidualSeNet());
    }

    [Fact]
    public void Lasso_prunes_a_sliced_group_whose_consumers_read_its_whole_axis()
    {
        using var fixture = new TinyFixture(seed: 12, factory: () => new ConcatResidualSeNet());

        var result = new ChannelPruningCompressor().Compress(fixture.Request(new() { ["ratios"] = "branchA=0.25", ["trainset_ratio"] = "1" }));

        var note = result.Layers.Single(n => n.Layer == "branchA").Note;
        output.WriteLine(note);
        Assert.StartsWith("branchA+branchB+excite+shortcut: 16 -> 4 channels by LASSO", note);
        Assert.Contains("squeeze: relative reconstruction error", note);
        Assert.Contains("conv: relative reconstruction error", note);
        var group = fixture.Editor.ChannelGroups.Single(g => g.Id == "branchA");
        // Each concatenated input keeps at least one channel, and its slice shrinks with the kept ones.
        Assert.Equal(4, group.Channels);
        Assert.Equal(4, group.SliceOf("branchA").Count + group.SliceOf("branchB").Count);
        Assert.All(group.Segments, s => Assert.True(s.Count >= 1));
    }

    [Fact]
    public void A_group_read_by_a_layer_that_sees_only_one_concat_input_is_selected_by_l1_and_says_why()
    {
        using var lasso = new TinyFixture(seed: 13, factory: () => new ConcatSideReadNet());
        using var l1 = new TinyFixture(seed: 13, factory: () => new ConcatSideReadNet());
        var settings = new Dictionary<string, string> { ["ratios"] = "convA=0.5", ["trainset_ratio"] = "1" };

        var result = new ChannelPruningCompressor().Compress(lasso.Request(settings));
        new ChannelPruningCompressor().Compress(l1.Request(new Dictionary<string, string>(settings) { ["method"] = "l1" }));

        var note = result.Layers.Single(n => n.Layer == "convA").Note;
        output.WriteLine(note);
        Assert.Equal("convA+convB+shortcut: 10 -> 5 channels by L1 norm; L1 selection instead of LASSO (consumer side reads only " +
                     "channels [0, 6) of the group's 10, which one sampled reconstruction problem cannot describe)", note);
        Assert.Equal(l1.Channels(), lasso.Channels());
        Assert.Equal(0, lasso.OutputError() - l1.OutputError(), 6);
    }

    [Fact]
    public void Accuracy_first_masks_the_slice_consumers_in_its_trial_like_the_shrink_does()
    {
        using var fixture = new TinyFixture(seed: 14, factory: () => new ConcatSideReadNet());
        var original = ModelCopy.Create(() => new ConcatSideReadNet(), ImageShape, [], fixture.Model);
        Tensor? trialOutput = null;
        double Evaluate(nn.Module<Tensor, Tensor> m)
        {
            using var _ = no_grad();
            trialOutput?.Dispose();
            trialOutput = m.call(fixture.HeldOut).detach().clone().DetachFromDisposeScope();
            return 1.0;
        }

        new ChannelPruningCompressor().Compress(fixture.Request(
            new() { ["method"] = "l1", ["ratios"] = "convA=0.5", ["accuracy_first"] = "true", ["accuracy_threshold"] = "0.5" }, evaluate: Evaluate));

        // The trial (consumers' inputs of the dropped channels zeroed, side's included) computed what the shrunk model computes.
        Assert.NotNull(trialOutput);
        using var shrunk = PruningFixtures.Eval(fixture.Model, fixture.HeldOut);
        Assert.True(shrunk.allclose(trialOutput!, rtol: 1e-4, atol: 1e-5), $"max gap {(shrunk - trialOutput!).abs().max().item<float>()}");
        Assert.Equal(5, fixture.Channels()["convA"]);
        trialOutput!.Dispose();
        original.Dispose();
    }

    public static TheoryData<string> Models => ["ConcatResidualSeNet", "ConcatSideReadNet", "Conv1dNet", "UNetLike"];

    [Theory]
    [MemberData(nameof(Models))]
    public void L1_prunes_to_a_macs_target_and_the_shrunk_model_equals_the_masked_one_and_replays(string name)
    {
        var (factory, shape, groups) = Model(name);
        using var fixture = new TinyFixture(seed: 15, factory: factory, inputShape: shape);
        var original = ModelCopy.Create(factory, shape, [], fixture.Model);
        long before = fixture.Editor.Cost.Macs;

        var result = new ChannelPruningCompressor().Compress(fixture.Request(new() { ["method"] = "l1" }, target: 0.5));

        output.WriteLine(result.Summary);
        foreach (var note in result.Layers) output.WriteLine($"{note.Layer}: {note.Note}");
        long after = fixture.Editor.Cost.Macs;
        Assert.True(after <= 0.5 * before, $"MACs {after} of {before}");
        Assert.True(after >= 0.3 * before, $"MACs {after} of {before}: the uniform plan should aim close to the target");
        Assert.Equal(FlopsCounter.Count(fixture.Model, shape).TotalFlops, after);
        // The groups issue 13 is about are pruned, not skipped.
        foreach (var group in groups)
            Assert.Contains(" channels by L1 norm", result.Layers.Single(n => n.Layer == group).Note);
        AssertShrunkEqualsMasked(original, fixture, factory);

        // The recorded edits replay to the same shapes on a fresh model, and its state_dict loads there.
        var path = Path.Combine(Path.GetTempPath(), $"sliced-edits-{Guid.NewGuid():N}.json");
        try
        {
            ModelEdits.Save(path, fixture.Editor.Edits);
            using var fresh = factory();
            EditReplay.Apply(fresh, shape, ModelEdits.Load(path));
            Assert.Equal(Shapes(fixture.Model), Shapes(fresh));
            fresh.load_state_dict(fixture.Model.state_dict());
            using var expected = PruningFixtures.Eval(fixture.Model, fixture.HeldOut);
            using var actual = PruningFixtures.Eval(fresh, fixture.HeldOut);
            Assert.True(actual.allclose(expected, rtol: 0, atol: 0));
            Assert.Equal(after, FlopsCounter.Count(fresh, shape).TotalFlops);
        }
        finally
        {
            File.Delete(path);
            original.Dispose();
        }
    }

    [Fact]
    public void A_transposed_convs_filters_are_scored_along_its_output_dimension()
    {
        using var fixture = new TinyFixture(seed: 16, factory: () => new UNetLike(), inputShape: [1, 3, 16, 16]);
        var up2 = (ConvTranspose2d)fixture.Model.named_modules().Single(m => m.name == "up2").module;
        // Weight [in 16, out 16, 2, 2]: output channel o scores Σ over inputs and kernel = 16·4·(o + 1)/100 when column o
        // holds (o + 1)/100, whatever the rows hold; the transposed reading (dimension 0) would score all outputs alike.
        using (no_grad())
            for (int o = 0; o < 16; o++) up2.weight!.narrow(1, o, 1).fill_((o + 1) / 100f);
        var group = fixture.Editor.ChannelGroups.Single(g => g.Id == "up2");

        var scores = Trainer.Core.Search.GroupChannelSelection.Scores(fixture.Model, group);

        Assert.Equal(Enumerable.Range(0, 16).Select(o => 16 * 4 * (o + 1) / 100.0), scores, new ToleranceComparer(1e-5));
        var result = new ChannelPruningCompressor().Compress(fixture.Request(new() { ["method"] = "l1", ["ratios"] = "up2=0.25" }));
        Assert.StartsWith("16 -> 4 channels by L1 norm", result.Layers.Single(n => n.Layer == "up2").Note);
        // The four largest columns were kept: up2's bias now holds those channels' biases.
        var original = ModelCopy.Create(() => new UNetLike(), [1, 3, 16, 16], [], fixture.Reference);
        Assert.Equal(Enumerable.Range(0, 16).Select(o => o >= 12).ToArray(), KeptByBias(original, fixture.Model, "up2"));
        original.Dispose();
    }

    [Fact]
    public void Lasso_falls_back_to_l1_for_conv1d_and_transposed_conv_consumers_and_says_so()
    {
        using var oneD = new TinyFixture(seed: 17, factory: () => new Conv1dNet(), inputShape: [1, 4, 32]);
        using var unet = new TinyFixture(seed: 17, factory: () => new UNetLike(), inputShape: [1, 3, 16, 16]);

        var conv1d = new ChannelPruningCompressor().Compress(oneD.Request(new() { ["ratios"] = "conv1=0.5", ["trainset_ratio"] = "1" }));
        var encoder = new ChannelPruningCompressor().Compress(unet.Request(new() { ["ratios"] = "bottleneck=0.5", ["trainset_ratio"] = "1" }));

        Assert.Equal("16 -> 8 channels by L1 norm; L1 selection instead of LASSO (consumer conv2 is a Conv1d; the editor samples " +
                     "Conv2d and Linear layers only)", conv1d.Layers.Single(n => n.Layer == "conv1").Note);
        Assert.Equal("16 -> 8 channels by L1 norm; L1 selection instead of LASSO (consumer up2 is a ConvTranspose2d; the " +
                     "editor samples Conv2d and Linear layers only)", encoder.Layers.Single(n => n.Layer == "bottleneck").Note);
    }

    private static (Func<nn.Module<Tensor, Tensor>> Factory, long[] Shape, string[] Groups) Model(string name) => name switch
    {
        "ConcatResidualSeNet" => (() => new ConcatResidualSeNet(), ImageShape, ["branchA"]),
        "ConcatSideReadNet" => (() => new ConcatSideReadNet(), ImageShape, ["convA"]),
        "Conv1dNet" => (() => new Conv1dNet(), [1, 4, 32], ["conv1", "conv2", "mix"]),
        "UNetLike" => (() => new UNetLike(), [1, 3, 16, 16], ["enc1", "enc2", "bottleneck", "up2", "dec2", "dec1"]),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown test model"),
    };

    private static void HandSet(nn.Module<Tensor, Tensor> model)
    {
        var modules = PruningFixtures.Modules(model);
        using var _ = no_grad();
        var branchA = (Conv2d)modules["branchA"];
        var branchB = (Conv2d)modules["branchB"];
        for (int c = 0; c < 8; c++)
        {
            branchA.weight!.narrow(0, c, 1).fill_(A[c]);
            branchB.weight!.narrow(0, c, 1).fill_(B[c]);
        }
        ((Conv2d)modules["shortcut"]).weight!.fill_(0.01f);
        ((Conv2d)modules["excite"]).weight!.fill_(0.01f);
    }

    /// <summary>
    /// Which of <paramref name="producer"/>'s original output channels the shrunk model kept, read from its bias: L1
    /// selection keeps a kept channel's bias unchanged, and random biases are distinct.
    /// </summary>
    private static bool[] KeptByBias(nn.Module original, nn.Module shrunk, string producer)
    {
        float[] Bias(nn.Module m) => PruningFixtures.Modules(m)[producer].named_parameters(recurse: false)
            .Single(p => p.name == "bias").parameter.detach().data<float>().ToArray();
        var kept = Bias(shrunk).ToHashSet();
        return Bias(original).Select(kept.Contains).ToArray();
    }

    /// <summary>The compressed model's output equals the original model's with the pruned channels zeroed (every producer
    /// masked by the channels it kept, followers with it).</summary>
    private static void AssertShrunkEqualsMasked(nn.Module<Tensor, Tensor> original, TinyFixture fixture, Func<nn.Module<Tensor, Tensor>> factory)
    {
        var graph = ModelGraph.Build(original, fixture.Shape);
        var masks = graph.Layers.Where(l => l.IsProducerKind).ToDictionary(l => l.Name, l => KeptByBias(original, fixture.Model, l.Name));
        Assert.Contains(masks.Values, m => m.Contains(false));
        PruningFixtures.ZeroPruned(original, graph, masks);
        using var expected = PruningFixtures.Eval(original, fixture.HeldOut);
        using var actual = PruningFixtures.Eval(fixture.Model, fixture.HeldOut);
        float scale = expected.abs().max().item<float>();
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5 * Math.Max(1, scale)),
            $"max |shrunk - masked| = {(actual - expected).abs().max().item<float>()}, max |masked| = {scale}");
    }

    private static List<(string, string)> Shapes(nn.Module model) =>
        model.state_dict().Select(kv => (kv.Key, string.Join("x", kv.Value.shape))).ToList();

    private sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(y));
        public int GetHashCode(double obj) => 0;
    }
}
