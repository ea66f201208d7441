using System.Text.Json;
using Trainer.Abstractions;
using Trainer.Core.Pruning.TorchPrune;
using Trainer.Core.Tests.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Tests.Pruning.Schedules;

/// <summary>The tiny net, its targets, the PyTorch fixtures and a probe that watches the masks during training.</summary>
internal static class ScheduleTestKit
{
    public static readonly JsonElement Root = JsonDocument.Parse(
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Pruning", "Schedules", "reference", "schedule_fixtures.json"))).RootElement;

    public static nn.Module Child(nn.Module net, string name) => net.named_children().Single(c => c.name == name).module;

    /// <summary>SmallNet's fc1.weight (64 entries), fc1.bias (16) and fc2.weight (48): the fixture's sizes in its order.</summary>
    public static (nn.Module, string)[] Targets(nn.Module net) =>
        [(Child(net, "fc1"), "weight"), (Child(net, "fc1"), "bias"), (Child(net, "fc2"), "weight")];

    public static float[] Values(Tensor t) => t.detach().contiguous().reshape(-1).data<float>().ToArray();

    public static Tensor Mask(nn.Module module, string name) => module.get_buffer(name + "_mask")!;

    public static Tensor Orig(nn.Module module, string name) => module.get_parameter(name + "_orig")!;

    public static long Zeros(nn.Module module, string name) => Values(Mask(module, name)).LongCount(v => v == 0);
}

/// <summary>Registered after a pruning callback: copies every target's mask and unmasked weight after each step and epoch.</summary>
internal sealed class MaskProbe((nn.Module Module, string Name)[] targets) : TrainerCallback
{
    public override string StateKey => "probe";

    /// <summary>By global step: each target's mask.</summary>
    public Dictionary<long, float[][]> StepMasks { get; } = [];

    /// <summary>By zero-based epoch: each target's mask and name_orig at the epoch end.</summary>
    public Dictionary<int, (float[][] Masks, float[][] Origs)> EpochEnds { get; } = [];

    /// <summary>By global step: each target's name_orig.</summary>
    public Dictionary<long, float[][]> StepOrigs { get; } = [];

    public override void OnTrainStart(ITrainingContext context) => OnStep(context.GlobalStep);

    public override void OnTrainBatchEnd(ITrainingContext context, BatchOutcome outcome) => OnStep(context.GlobalStep);

    public override void OnEpochEnd(ITrainingContext context) =>
        EpochEnds[context.Epoch] = (Masks(), Origs());

    private void OnStep(long step)
    {
        StepMasks[step] = Masks();
        StepOrigs[step] = Origs();
    }

    private float[][] Masks() => targets.Select(t => ScheduleTestKit.Values(ScheduleTestKit.Mask(t.Module, t.Name))).ToArray();

    private float[][] Origs() => targets.Select(t => ScheduleTestKit.Values(ScheduleTestKit.Orig(t.Module, t.Name))).ToArray();
}
