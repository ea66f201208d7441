using TorchSharp;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using Trainer.Core.Tests.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Compression;

/// <summary>Concatenation, depthwise, grouped and residual models: MacsIfKept is exact and edits replay.</summary>
/// <remarks>A small residual model stands in for resnet18, whose graph takes seconds to build (ResidualPatternTests covers it).</remarks>
public sealed class CouplingTests
{
    public static TheoryData<string> Models => ["concat", "depthwise", "grouped", "residual"];

    private static (Func<nn.Module<Tensor, Tensor>> Factory, long[] Shape) Model(string name) => name switch
    {
        "concat" => (() => new TwoBranchConcatNet(), [1, 3, 8, 8]),
        "depthwise" => (() => new MobileBlockNet(), [1, 3, 8, 8]),
        "grouped" => (() => new GroupedConvNet(), [1, 3, 8, 8]),
        _ => (() => new TinyResNet(), [1, 3, 16, 16]),
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Keeping_the_even_channels_of_every_group_costs_what_MacsIfKept_said_and_replays_onto_a_fresh_model(string name)
    {
        torch.manual_seed(31);
        var (factory, shape) = Model(name);
        using var model = factory();
        EditorFixtures.RandomizeNorms(model);
        var editor = new ModelEditor(model, shape, new ShrinkOptions { RoundTo = 1 });
        var groups = editor.ChannelGroups.Where(g => g.IsPrunable).ToList();
        Assert.NotEmpty(groups);
        // Even channels: the same count in every slice, as grouped convs require.
        var flags = groups.ToDictionary(g => g.Id, g => Enumerable.Range(0, g.Channels).Select(c => c % 2 == 0).ToArray());
        long before = editor.Cost.Macs;

        long predicted = editor.MacsIfKept(flags.ToDictionary(f => f.Key, f => f.Value.Count(k => k)));
        editor.ShrinkChannels(flags);

        Assert.Equal(predicted, editor.Cost.Macs);
        Assert.True(predicted < before * 0.6, $"{predicted} of {before}");
        using var fresh = factory();
        EditReplay.Apply(fresh, shape, editor.Edits);
        fresh.load_state_dict(model.state_dict());
        torch.manual_seed(32);
        using var x = torch.randn([2, .. shape[1..]]);
        using var expected = EditorFixtures.Eval(model, x);
        using var actual = EditorFixtures.Eval(fresh, x);
        Assert.True(actual.allclose(expected, rtol: 0, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    [Fact]
    public void A_concatenated_branch_is_consumed_at_its_offset()
    {
        using var model = new TwoBranchConcatNet();
        var editor = new ModelEditor(model, [1, 3, 8, 8]);

        var groups = editor.ChannelGroups.ToDictionary(g => g.Id);
        Assert.Equal([new Abstractions.Compression.ChannelConsumer("merge", 0, 1)], groups["branchA"].Consumers);
        Assert.Equal([new Abstractions.Compression.ChannelConsumer("merge", 8, 1)], groups["branchB"].Consumers);
    }
}
