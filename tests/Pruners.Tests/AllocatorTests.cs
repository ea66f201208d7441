using Plugins.Pruners;
using Trainer.Abstractions.Compression;
using Trainer.Core.Compression;
using Trainer.Core.Pruning;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Pruners.Tests;

/// <summary>Two Linear layers on the same input added together, then a consumer: their output features are coupled.</summary>
internal sealed class AddNet : nn.Module<Tensor, Tensor>
{
    public readonly Linear a = nn.Linear(3, 4, hasBias: false);
    public readonly Linear b = nn.Linear(3, 4, hasBias: false);
    public readonly Linear fc = nn.Linear(4, 2);

    public AddNet() : base(nameof(AddNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call((a.call(x) + b.call(x)).relu());
}

/// <summary>conv 3→8, ReLU, grouped conv 8→8 (2 groups), ReLU, flatten, fc: conv1's channels must stay a multiple of 2.</summary>
internal sealed class GroupedNet : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv1 = nn.Conv2d(3, 8, 3, padding: 1);
    public readonly Conv2d conv2 = nn.Conv2d(8, 8, 3, padding: 1, groups: 2);
    public readonly Linear fc = nn.Linear(8 * 4 * 4, 3);

    public GroupedNet() : base(nameof(GroupedNet)) => RegisterComponents();

    public override Tensor forward(Tensor x) => fc.call(conv2.call(conv1.call(x).relu()).relu().flatten(1));
}

/// <summary>NNI's allocators on small hand-checked cases: rounding, dependency-aware fusion and group blocks, global.</summary>
public sealed class AllocatorTests
{
    private static Tensor Rows(params float[] norms) => tensor(norms).view(-1, 1) * ones(1, 3);

    private static int[] Kept(Tensor mask) => mask.data<float>().Select((v, i) => (v, i)).Where(p => p.v != 0).Select(p => p.i).ToArray();

    [Theory]
    [InlineData(10, 0.35, 7)]   // int(3.5) = 3 pruned; Python's round would prune 4
    [InlineData(7, 0.29, 5)]    // int(2.03) = 2
    [InlineData(64, 0.999, 1)]  // int(63.936) = 63
    [InlineData(9408, 0.7, 2823)]
    public void A_layers_pruned_count_is_rounded_down_as_NNIs_int(long numel, double sparsity, long kept)
    {
        Assert.Equal(kept, SparsityAllocators.KeptCount(numel, sparsity));
        using var metric = arange(numel, dtype: float32);
        var masks = SparsityAllocators.Normal(new Dictionary<string, Tensor> { ["x"] = metric }, new Dictionary<string, double> { ["x"] = sparsity });
        Assert.Equal(Enumerable.Range((int)(numel - kept), (int)kept), Kept(masks["x"]));
    }

    [Fact]
    public void Dependency_aware_keeps_the_channels_of_the_summed_metric_at_the_groups_smallest_sparsity()
    {
        manual_seed(0);
        using var model = new AddNet();
        using (no_grad())
        {
            model.a.weight!.copy_(Rows(1, 10, 2, 3));
            model.b.weight!.copy_(Rows(5, 0, 1, 2));
        }
        var editor = new ModelEditor(model, [1, 3], new ShrinkOptions { RoundTo = 1 });
        var config = ConfigList.Parse("""[{"op_names": ["a"], "sparsity": 0.5}, {"op_names": ["b"], "sparsity": 0.75}]""", "c");

        using var normal = MaskPlanner.Plan(model, ImportanceCriterion.L1Norm, PruningMode.Normal, config, editor, "c");
        Assert.Equal([1, 3], normal.KeptChannels("a"));
        Assert.Equal([0], normal.KeptChannels("b"));
        using var aware = MaskPlanner.Plan(model, ImportanceCriterion.L1Norm, PruningMode.DependencyAware, config, editor, "c");
        // Summed norms 6, 10, 3, 5 at min(0.5, 0.75): channels 0 and 1 in both layers.
        Assert.Equal([0, 1], aware.KeptChannels("a"));
        Assert.Equal([0, 1], aware.KeptChannels("b"));

        var notes = NniPrunerCompressor.Shrink(editor, aware);
        Assert.Equal(new long[] { 2, 3 }, model.a.weight!.shape);
        Assert.Equal(new long[] { 2, 3 }, model.b.weight!.shape);
        Assert.Equal(new long[] { 2, 2 }, model.fc.weight!.shape);
        Assert.Contains(new LayerNote("a", "keeps 2 of 4 channels"), notes);
    }

    [Fact]
    public void Dependency_aware_keeps_the_same_count_in_each_block_of_a_grouped_consumer_and_the_core_shrinks_it()
    {
        manual_seed(0);
        using var model = new GroupedNet();
        using (no_grad()) model.conv1.weight!.copy_((tensor(new float[] { 9, 8, 7, 6, 1, 2, 4, 3 }).view(-1, 1, 1, 1) * ones(1, 3, 3, 3)));
        var editor = new ModelEditor(model, [1, 3, 4, 4], new ShrinkOptions { RoundTo = 1 });
        Assert.Equal(2, MaskPlanner.GroupDependency(editor)["conv1"]);
        Assert.Equal(2, MaskPlanner.GroupDependency(editor)["conv2"]);
        var config = ConfigList.Parse("""[{"op_names": ["conv1"], "sparsity": 0.5}]""", "c");

        using var normal = MaskPlanner.Plan(model, ImportanceCriterion.L1Norm, PruningMode.Normal, config, editor, "c");
        Assert.Equal([0, 1, 2, 3], normal.KeptChannels("conv1"));
        using var aware = MaskPlanner.Plan(model, ImportanceCriterion.L1Norm, PruningMode.DependencyAware, config, editor, "c");
        Assert.Equal([0, 1, 6, 7], aware.KeptChannels("conv1"));

        NniPrunerCompressor.Shrink(editor, aware);
        Assert.Equal(new long[] { 4, 3, 3, 3 }, model.conv1.weight!.shape);
        Assert.Equal(new long[] { 8, 2, 3, 3 }, model.conv2.weight!.shape);
        using var y = model.call(randn(2, 3, 4, 4));
        Assert.Equal(new long[] { 2, 3 }, y.shape);
    }

    [Theory]
    [InlineData(0.99, new[] { 0, 0, 0, 1 }, new[] { 0, 1, 1, 1 })]
    [InlineData(0.5, new[] { 0, 0, 1, 1 }, new[] { 0, 0, 1, 1 })]
    public void Global_prunes_below_one_threshold_and_protects_each_layers_share(double maxSparsity, int[] keptA, int[] keptB)
    {
        using var a = tensor(new float[] { 0.1f, 0.2f, 0.3f, 0.4f });
        using var b = tensor(new float[] { 1, 2, 3, 4 });
        var masks = SparsityAllocators.Global(new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b },
            new Dictionary<string, long> { ["a"] = 4, ["b"] = 4 }, 0.5, new Dictionary<string, double> { ["a"] = maxSparsity, ["b"] = maxSparsity });
        Assert.Equal(keptA.Select(v => (float)v), masks["a"].data<float>().ToArray());
        Assert.Equal(keptB.Select(v => (float)v), masks["b"].data<float>().ToArray());
    }

    [Fact]
    public void Global_counts_a_channel_metric_once_per_weight_it_stands_for()
    {
        // a: 2 channels of 1 weight (norms 1, 5); b: 2 channels of 4 weights (norms 2, 8). Protected: the top channel of
        // each (raised to 8). Global metric: 1, 8 | 2, 2, 2, 2, 8, 8, 8, 8; int(0.5·10) = 5 pruned, threshold 2.
        using var a = tensor(new float[] { 1, 5 });
        using var b = tensor(new float[] { 2, 8 });
        var masks = SparsityAllocators.Global(new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b },
            new Dictionary<string, long> { ["a"] = 2, ["b"] = 8 }, 0.5, new Dictionary<string, double> { ["a"] = 0.99, ["b"] = 0.99 });
        Assert.Equal([1], Kept(masks["a"]));
        Assert.Equal([1], Kept(masks["b"]));
        // Counted once per channel instead, 2 of 4 entries would go and b's channel 0 (metric 2) would survive: it does not.
    }

    [Fact]
    public void Level_compressor_zeroes_the_smallest_weights_of_each_selected_layer_in_place()
    {
        using var model = new AddNet();
        using (no_grad()) model.a.weight!.copy_(arange(1, 13, dtype: float32).view(4, 3) * tensor(new float[] { 1, -1, 1 }));
        var editor = new ModelEditor(model, [1, 3]);
        var result = new LevelPrunerCompressor().Compress(new CompressionRequest
        {
            Model = model, ExampleInputShape = [1, 3], Editor = editor,
            Settings = new Dictionary<string, string> { ["config_list"] = """[{"op_names": ["a"], "sparsity": 0.6}]""" },
        });
        // int(0.6·12) = 7 smallest |w| (1..7) become zero.
        Assert.Equal(new float[] { 0, 0, 0, 0, 0, 0, 0, -8, 9, 10, -11, 12 }, model.a.weight!.data<float>().ToArray());
        Assert.Equal(new LayerNote("a", "7 of 12 weights set to zero (58.3%)"), result.Layers.Single());
    }
}
