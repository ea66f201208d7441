using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning;

/// <summary>Checks a layer against its <see cref="LayerPlan"/> and slices it with its type's <see cref="LayerPruner"/>.</summary>
internal static class LayerSlicer
{
    /// <summary>Checks that <paramref name="module"/> has a pruner and still has the sizes the graph saw.</summary>
    /// <exception cref="ArgumentException">The layer type cannot be shrunk (the message names the path, type and why), or the
    /// module was resized since the graph was built.</exception>
    public static void CheckCurrent(nn.Module module, LayerPlan plan)
    {
        var layer = plan.Layer;
        var pruner = LayerPruner.For(module, out var why)
            ?? throw new ArgumentException($"cannot shrink '{layer.Name}' ({module.GetType().Name}): {why}", "model");
        var now = pruner.Widths(module);
        if (now.Out < 0) now = (layer.NumFeatures ?? 0, layer.NumFeatures ?? 0); // GroupNorm without affine parameters
        long expectedOut = layer.Channels ?? now.Out;
        bool inMatches = plan.KeepIn is null || now.In == plan.InWidth;
        if (now.Out != expectedOut || !inMatches)
            throw new ArgumentException(
                $"the graph is stale: '{layer.Name}' now has {now.In} inputs and {now.Out} outputs, the graph saw " +
                $"{(plan.KeepIn is null ? "?" : plan.InWidth)} and {expectedOut}; rebuild the graph after shrinking", "graph");
    }

    /// <summary>Slices <paramref name="module"/> (checked by <see cref="CheckCurrent"/>).</summary>
    public static void Apply(nn.Module module, LayerPlan plan) => LayerPruner.For(module, out _)!.Apply(module, plan);

    /// <summary>Input and output widths of <paramref name="module"/> (0, 0 when no pruner knows it).</summary>
    public static (long In, long Out) Widths(nn.Module module) =>
        LayerPruner.For(module, out _) is { } pruner ? pruner.Widths(module) : (0, 0);
}
