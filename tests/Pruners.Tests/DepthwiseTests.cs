using Plugins.Pruners;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>conv 3→8, depthwise conv 8→8 (8 groups), pointwise conv 8→4, flatten, fc.</summary>
internal sealed class DepthwiseNet : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv1 = nn.Conv2d(3, 8, 3, padding: 1);
    public readonly Conv2d dw = nn.Conv2d(8, 8, 3, padding: 1, groups: 8);
    public readonly Conv2d pw = nn.Conv2d(8, 4, 1);
    public readonly Linear fc = nn.Linear(4 * 4 * 4, 3);

    public DepthwiseNet() : base(nameof(DepthwiseNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call(pw.call(dw.call(conv1.call(x).relu()).relu()).relu().flatten(1));
}

/// <summary>How a depthwise conv, which carries its producer's channels, is handled.</summary>
public sealed class DepthwiseTests
{
    [Fact]
    public void A_depthwise_conv_adds_no_group_constraint_and_shrinks_with_its_producers_group()
    {
        manual_seed(1);
        using var model = new DepthwiseNet();
        var editor = new ModelEditor(model, [1, 3, 4, 4], new ShrinkOptions { RoundTo = 1 });
        var dependency = MaskPlanner.GroupDependency(editor);
        Assert.Equal(1, dependency["conv1"]);
        Assert.Equal(1, dependency["dw"]);
        var config = ConfigList.Parse("""[{"op_types": ["Conv2d"], "sparsity": 0.5}, {"op_names": ["pw"], "exclude": true}]""", "c");
        using var masks = MaskPlanner.Plan(model, ImportanceCriterion.L2Norm, PruningMode.DependencyAware, config, editor, "c");
        Assert.Equal(4, masks.KeptChannels("conv1").Length);
        Assert.Equal(4, masks.KeptChannels("dw").Length);

        var producers = editor.ChannelGroups.SelectMany(g => g.Producers).ToList();
        var notes = NniPrunerCompressor.Shrink(editor, masks);
        Assert.Equal(4, model.conv1.weight!.shape[0]);
        Assert.Equal(new long[] { 4, 1, 3, 3 }, model.dw.weight!.shape);
        Assert.Equal(new long[] { 4, 4, 1, 1 }, model.pw.weight!.shape);
        Assert.Equal(["conv1", "pw", "fc"], producers);
        Assert.Contains(notes, n => n.Layer == "dw" && n.Note.StartsWith("mask not applied", StringComparison.Ordinal));
        using var y = model.call(randn(2, 3, 4, 4));
        Assert.Equal(new long[] { 2, 3 }, y.shape);
    }
}
