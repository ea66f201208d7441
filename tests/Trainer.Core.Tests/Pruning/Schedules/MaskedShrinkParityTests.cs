using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Pruning.Importance;
using Trainer.Core.Pruning.Schedules;
using Trainer.Core.Tests.Training;
using Trainer.Core.Training;
using TorchSharp;
using static TorchSharp.torch;
using static Trainer.Core.Tests.Pruning.Schedules.ScheduleTestKit;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>Four features as a 1×2×2 image: conv(1→8) → BatchNorm → ReLU → conv(8→6) → BatchNorm → ReLU → a classifier.</summary>
internal sealed class ConvBnConvNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d conv1, conv2;
    private readonly TorchSharp.Modules.BatchNorm2d bn1, bn2;
    private readonly TorchSharp.Modules.Linear fc;

    public ConvBnConvNet() : base(nameof(ConvBnConvNet))
    {
        conv1 = nn.Conv2d(1, 8, 2, padding: 1);
        bn1 = nn.BatchNorm2d(8);
        conv2 = nn.Conv2d(8, 6, 2, padding: 1);
        bn2 = nn.BatchNorm2d(6);
        fc = nn.Linear(96, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        fc.call(bn2.call(conv2.call(bn1.call(conv1.call(x.view(-1, 1, 2, 2))).relu())).relu().flatten(1));
}

/// <summary>A residual sum of two conv → BatchNorm branches (one channel group of two producers), then ReLU, a 1×1 conv
/// with BatchNorm, and a classifier.</summary>
internal sealed class ResidualBnNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d a, b, head;
    private readonly TorchSharp.Modules.BatchNorm2d bnA, bnB, bnHead;
    private readonly TorchSharp.Modules.Linear fc;

    public ResidualBnNet() : base(nameof(ResidualBnNet))
    {
        a = nn.Conv2d(1, 8, 2, padding: 1);
        bnA = nn.BatchNorm2d(8);
        b = nn.Conv2d(1, 8, 2, padding: 1);
        bnB = nn.BatchNorm2d(8);
        head = nn.Conv2d(8, 4, 1);
        bnHead = nn.BatchNorm2d(4);
        fc = nn.Linear(36, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var image = x.view(-1, 1, 2, 2);
        var sum = (bnA.call(a.call(image)) + bnB.call(b.call(image))).relu();
        return fc.call(bnHead.call(head.call(sum)).relu().flatten(1));
    }
}

/// <summary>Two convs concatenated (channels 0–5 and 6–9 of one axis), one BatchNorm over the concatenation, ReLU, a
/// depthwise conv with bias and its BatchNorm, then a classifier.</summary>
internal sealed class ConcatDepthwiseNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d a, b, depthwise;
    private readonly TorchSharp.Modules.BatchNorm2d bn, bnDepthwise;
    private readonly TorchSharp.Modules.Linear fc;

    public ConcatDepthwiseNet() : base(nameof(ConcatDepthwiseNet))
    {
        a = nn.Conv2d(1, 6, 2, padding: 1);
        b = nn.Conv2d(1, 4, 2, padding: 1);
        bn = nn.BatchNorm2d(10);
        depthwise = nn.Conv2d(10, 10, 3, padding: 1, groups: 10);
        bnDepthwise = nn.BatchNorm2d(10);
        fc = nn.Linear(90, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var image = x.view(-1, 1, 2, 2);
        var joined = bn.call(cat([a.call(image), b.call(image)], 1)).relu();
        return fc.call(bnDepthwise.call(depthwise.call(joined)).relu().flatten(1));
    }
}

/// <summary>cat(a, b) + c: one axis of 8 channels where a covers channels 0–3, b channels 4–7 and c all of them; then a
/// BatchNorm over the sum, ReLU and a classifier.</summary>
internal sealed class SlicedSumNet : nn.Module<Tensor, Tensor>
{
    private readonly TorchSharp.Modules.Conv2d a, b, c;
    private readonly TorchSharp.Modules.BatchNorm2d bn;
    private readonly TorchSharp.Modules.Linear fc;

    public SlicedSumNet() : base(nameof(SlicedSumNet))
    {
        a = nn.Conv2d(1, 4, 2, padding: 1);
        b = nn.Conv2d(1, 4, 2, padding: 1);
        c = nn.Conv2d(1, 8, 2, padding: 1);
        bn = nn.BatchNorm2d(8);
        fc = nn.Linear(72, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var image = x.view(-1, 1, 2, 2);
        return fc.call(bn.call(cat([a.call(image), b.call(image)], 1) + c.call(image)).relu().flatten(1));
    }
}

/// <summary>
/// A channel-pruning schedule masks the biases and the BatchNorms after the pruned channels, so the model it trained and
/// scored computes what the shrunk model it ships computes.
/// </summary>
public class MaskedShrinkParityTests
{
    private static ImportanceOptions Options(ImportanceCriterion criterion, nn.Module<Tensor, Tensor> net) => new()
    {
        Criterion = criterion, TrainingSteps = 2, BatchesPerEpoch = 4, Network = net, InputShape = [1, 4], SlimLambda = 0.01,
    };

    private static (nn.Module Module, string Name)[] ConvTargets(nn.Module net) =>
        net.named_modules().Where(m => m.module is TorchSharp.Modules.Conv2d).Select(m => (m.module, "weight")).ToArray();

    /// <summary>Outputs in eval mode on 32 random inputs (fixed seed).</summary>
    private static float[] Outputs(nn.Module<Tensor, Tensor> net)
    {
        net.eval();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Values(net.call(randn([32, 4], generator: new Generator(5))));
    }

    /// <summary>Makes the pruning permanent as the host does, shrinks the model, and gives its outputs and conv widths.</summary>
    private static (float[] Outputs, long[] Widths) ShrinkAndRun(nn.Module<Tensor, Tensor> net, (nn.Module, string)[] targets)
    {
        PruningConfig.MakeTargetsPermanent(targets, net);
        Assert.False(TorchPrune_IsPruned(net));
        var dir = Fixtures.TempDir();
        var manifest = PrunedChannelShrink.ShrinkAndSave(net, new ModelIdentity("parity", "", "", [1, 4]), targets,
            Path.Combine(dir, "manifest.json"), Path.Combine(dir, "shrunk.weights"), double.NaN, NullLogger.Instance);
        Assert.NotNull(manifest);
        var widths = net.named_modules().Select(m => m.module).OfType<TorchSharp.Modules.Conv2d>().Select(c => c.weight!.shape[0]).ToArray();
        return (Outputs(net), widths);
    }

    private static bool TorchPrune_IsPruned(nn.Module net) => Trainer.Core.Pruning.TorchPrune.Prune.IsPruned(net);

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        // Removing channels that hold zeros only changes the order of float32 sums: a few ulps of the largest magnitude.
        var tolerance = 1e-5f * Math.Max(1f, expected.Max(Math.Abs));
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance,
            $"output {i}: masked model {expected[i]}, shrunk model {actual[i]}");
    }

    /// <summary>Linear to 3/4 of each conv's channels at epochs 1–3, each by its own ranking: conv1 keeps 2 of 8, conv2 keeps 2
    /// of 6 (round(4.5) = 4 pruned, half to even).</summary>
    [Theory]
    [InlineData("l1-norm")]
    [InlineData("taylor-fo")]
    [InlineData("slim")]
    [InlineData("apoz")]
    public void The_shrunk_model_computes_what_the_masked_model_trained_with_a_schedule_computes(string pruner)
    {
        torch.manual_seed(21);
        var net = new ConvBnConvNet();
        var targets = ConvTargets(net);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(SparsitySchedule.Linear(0.75, start: 1, end: 3),
            ScheduleUnit.Epoch, Importance: Options(ImportanceCriteria.Find(pruner)!.Value, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 4, callbacks: [pruning], lossHooks: pruning.LossHooks)).Run();

        // The pruned channels' followers are masked: bn1 and bn2 output zero there, and so do the biases.
        var bn1 = Child(net, "bn1");
        Assert.Equal(6, Zeros(bn1, "weight"));
        Assert.Equal(6, Zeros(bn1, "bias"));
        Assert.Equal(6, Zeros(Child(net, "conv1"), "bias"));
        Assert.Equal(4, Zeros(Child(net, "bn2"), "bias"));
        var masked = Outputs(net);
        var (shrunk, widths) = ShrinkAndRun(net, targets);
        Assert.Equal([2L, 2L], widths);
        AssertClose(masked, shrunk);
    }

    [Fact]
    public void A_lottery_ticket_with_channel_pruning_shrinks_to_the_model_it_trained()
    {
        torch.manual_seed(4);
        var net = new ConvBnConvNet();
        var targets = ConvTargets(net);
        using var ticket = new LotteryTicket(targets, new LotteryTicketOptions(0.5, Rounds: 2, EpochsPerRound: 1, RewindStep: 1,
            Importance: Options(ImportanceCriterion.L2Norm, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 3, callbacks: [ticket])).Run();
        var masked = Outputs(net);
        var (shrunk, widths) = ShrinkAndRun(net, targets);
        Assert.Equal([2L, 1L], widths); // each round prunes half of what is left: 8 → 4 → 2, 6 → 3 → 1 (round(1.5) = 2)
        AssertClose(masked, shrunk);
    }

    /// <summary>
    /// Each branch of the residual sum is pruned on its own: a channel only one branch pruned stays in the shrunk model, so the
    /// BatchNorm after that branch keeps its mask baked in and the sum keeps the other branch's value; a channel both pruned goes.
    /// </summary>
    [Theory]
    [InlineData("l1-norm")]
    [InlineData("taylor-fo")]
    public void A_residual_sum_whose_branches_prune_different_channels_shrinks_to_the_model_it_trained(string pruner)
    {
        torch.manual_seed(8);
        var net = new ResidualBnNet();
        var targets = ConvTargets(net);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(SparsitySchedule.Linear(0.75, start: 1, end: 3),
            ScheduleUnit.Epoch, Importance: Options(ImportanceCriteria.Find(pruner)!.Value, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 4, callbacks: [pruning], lossHooks: pruning.LossHooks)).Run();
        var aliveA = Values(Mask(Child(net, "a"), "weight")).Chunk(4).Select(c => c.Any(v => v != 0)).ToArray();
        var aliveB = Values(Mask(Child(net, "b"), "weight")).Chunk(4).Select(c => c.Any(v => v != 0)).ToArray();
        var removed = Enumerable.Range(0, 8).Count(c => !aliveA[c] && !aliveB[c]);
        // A branch's BatchNorm is masked only where both branches pruned the channel: the channels the shrink removes.
        Assert.Equal(removed, Zeros(Child(net, "bnA"), "weight"));
        Assert.Equal(removed, Zeros(Child(net, "bnB"), "weight"));
        var masked = Outputs(net);
        var (shrunk, widths) = ShrinkAndRun(net, targets);
        Assert.Equal(8 - removed, widths[0]);
        AssertClose(masked, shrunk);
    }

    /// <summary>
    /// The BatchNorm after a concatenation is masked at each producer's slice of the axis (a's channel c is channel c, b's
    /// channel c is 6 + c); the depthwise conv after it outputs its bias for a zero channel, so its bias is masked too.
    /// </summary>
    [Theory]
    [InlineData("l1-norm")]
    [InlineData("taylor-fo")]
    public void A_concatenation_followed_by_batchnorm_and_a_depthwise_conv_shrinks_to_the_model_it_trained(string pruner)
    {
        torch.manual_seed(13);
        var net = new ConcatDepthwiseNet();
        (nn.Module, string)[] targets = [(Child(net, "a"), "weight"), (Child(net, "b"), "weight")];
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(SparsitySchedule.Linear(0.5, start: 1, end: 2),
            ScheduleUnit.Epoch, Importance: Options(ImportanceCriteria.Find(pruner)!.Value, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 3, callbacks: [pruning], lossHooks: pruning.LossHooks)).Run();
        var aliveA = Values(Mask(Child(net, "a"), "weight")).Chunk(4).Select(c => c.Any(v => v != 0));
        var aliveB = Values(Mask(Child(net, "b"), "weight")).Chunk(4).Select(c => c.Any(v => v != 0));
        var expected = aliveA.Concat(aliveB).Select(alive => alive ? 1f : 0f).ToArray();
        Assert.Equal(5, expected.Count(v => v == 0)); // 3 of a's 6, 2 of b's 4
        Assert.Equal(expected, Values(Mask(Child(net, "bn"), "weight")));
        Assert.Equal(expected, Values(Mask(Child(net, "depthwise"), "bias")));
        Assert.Equal(expected, Values(Mask(Child(net, "bnDepthwise"), "bias")));
        var masked = Outputs(net);
        var (shrunk, widths) = ShrinkAndRun(net, targets);
        Assert.Equal([3L, 2L, 5L], widths);
        AssertClose(masked, shrunk);
    }

    /// <summary>
    /// A group whose producers cover slices of its axis: channel 4 + j of the sum goes only when b's channel j and c's channel
    /// 4 + j are both pruned; the BatchNorm over the sum is masked at exactly those channels.
    /// </summary>
    [Fact]
    public void A_sum_of_a_concatenation_and_a_full_width_conv_shrinks_to_the_model_it_trained()
    {
        torch.manual_seed(17);
        var net = new SlicedSumNet();
        var targets = ConvTargets(net);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(SparsitySchedule.Linear(0.75, start: 1, end: 3),
            ScheduleUnit.Epoch, Importance: Options(ImportanceCriterion.L1Norm, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 4, callbacks: [pruning])).Run();
        bool[] Alive(string name) => Values(Mask(Child(net, name), "weight")).Chunk(4).Select(c => c.Any(v => v != 0)).ToArray();
        var sliced = Alive("a").Concat(Alive("b")).ToArray();
        var expected = Alive("c").Select((alive, i) => alive || sliced[i] ? 1f : 0f).ToArray();
        Assert.InRange(expected.Count(v => v == 0), 1, 5);
        Assert.Equal(expected, Values(Mask(Child(net, "bn"), "weight")));
        var masked = Outputs(net);
        var (shrunk, widths) = ShrinkAndRun(net, targets);
        Assert.Equal((long)expected.Count(v => v != 0), widths[2]);
        AssertClose(masked, shrunk);
    }

    /// <summary>By steps with a 3-step window; the run is cut after epoch 1 and resumed: bias and BatchNorm masks match.</summary>
    private static float[][] TrainBySteps(int epochs, string? dir, bool resume = false)
    {
        torch.manual_seed(3);
        var net = new ConvBnConvNet();
        var targets = ConvTargets(net);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(
            SparsitySchedule.Linear(0.875, start: 1, end: 10, frequency: 3), ScheduleUnit.Step,
            Importance: Options(ImportanceCriterion.TaylorFo, net) with { TrainingSteps = 3 }));
        if (resume) torch.manual_seed(1234);
        new ClassificationTrainer(Fixtures.Setup(net, epochs: epochs, checkpointDir: dir, callbacks: [pruning])).Run(resume);
        (nn.Module, string)[] tensors = [(Child(net, "conv1"), "weight"), (Child(net, "conv1"), "bias"), (Child(net, "bn1"), "weight"),
            (Child(net, "bn1"), "bias"), (Child(net, "bn2"), "weight")];
        return [.. tensors.Select(t => Values(Mask(t.Item1, t.Item2))), .. tensors.Select(t => Values(Orig(t.Item1, t.Item2)))];
    }

    [Fact]
    public void A_resumed_run_ends_with_the_bias_and_batchnorm_masks_and_weights_of_the_unbroken_run()
    {
        var unbroken = TrainBySteps(4, null);
        var dir = Fixtures.TempDir();
        TrainBySteps(2, dir);
        var resumed = TrainBySteps(4, dir, resume: true);
        Assert.Equal(unbroken.Length, resumed.Length);
        for (int i = 0; i < unbroken.Length; i++) Assert.Equal(unbroken[i], resumed[i]);
        Assert.Equal(7, unbroken[2].Count(v => v == 0)); // bn1: 7 of 8 channels pruned at step 10
    }

    [Fact]
    public void Making_the_pruning_permanent_at_the_end_also_removes_the_bias_and_batchnorm_masks()
    {
        torch.manual_seed(21);
        var net = new ConvBnConvNet();
        var targets = ConvTargets(net);
        using var pruning = new ScheduledPruning(targets, new ScheduledPruningOptions(SparsitySchedule.Linear(0.5, start: 1, end: 2),
            ScheduleUnit.Epoch, MakePermanentAtEnd: true, Importance: Options(ImportanceCriterion.L1Norm, net)));
        new ClassificationTrainer(Fixtures.Setup(net, epochs: 3, callbacks: [pruning])).Run();
        Assert.False(TorchPrune_IsPruned(net));
        var keys = net.state_dict().Keys.ToArray();
        Assert.DoesNotContain(keys, k => k.EndsWith("_mask", StringComparison.Ordinal) || k.EndsWith("_orig", StringComparison.Ordinal));
        var bn1 = Child(net, "bn1");
        Assert.Equal(4, Values(bn1.get_parameter("weight")!).Count(v => v == 0));
        Assert.Equal(4, Values(bn1.get_parameter("bias")!).Count(v => v == 0));
    }
}
