using System.Globalization;

namespace Trainer.Core.Inference;

/// <summary>What <see cref="InferenceForm.Apply"/> did to a model.</summary>
/// <param name="FoldedPairs">BatchNorms folded into their convs, in execution order.</param>
/// <param name="Layout">The memory layout the model was left in.</param>
/// <param name="ContiguousMs">Median batch-1 latency in contiguous layout after folding, when timed (else null).</param>
/// <param name="ChannelsLastMs">Median batch-1 latency in channels-last layout after folding, when timed (else null).</param>
/// <param name="MaxAbsDifference">Largest absolute difference between the eval outputs before and after, on random inputs
/// of the checked batch sizes.</param>
public sealed record InferenceFormReport(IReadOnlyList<FoldedBatchNorm> FoldedPairs, MemoryLayout Layout,
    double? ContiguousMs, double? ChannelsLastMs, double MaxAbsDifference)
{
    /// <summary>The folds as edits a compression manifest records (<see cref="Compression.EditReplay"/> rebuilds them).</summary>
    public IReadOnlyList<Compression.ModelEdit> Edits =>
        FoldedPairs.Select(p => (Compression.ModelEdit)new Compression.FoldBatchNormEdit(p.Conv, p.BatchNorm, p.Removed)).ToList();

    /// <summary>Convs kept NCHW in a channels-last form because their channels-last result was wrong on this machine.</summary>
    public IReadOnlyList<LayoutFallback> ContiguousLayers { get; init; } = [];

    /// <summary>Names of the folded batch norms.</summary>
    public IReadOnlyList<string> FoldedBatchNorms => FoldedPairs.Select(p => p.BatchNorm).ToList();

    /// <summary>Contiguous time over channels-last time when both were timed (above 1: channels-last is faster).</summary>
    public double? LayoutGain => ContiguousMs is { } c && ChannelsLastMs is { } l && l > 0 ? c / l : null;

    /// <summary>"folded 20 BatchNorm, layout ChannelsLast (1.23x over contiguous), max |diff| 2.1e-06".</summary>
    public override string ToString()
    {
        string gain = LayoutGain is { } g ? string.Create(CultureInfo.InvariantCulture, $" ({g:0.00}x channels-last over contiguous)") : "";
        string kept = ContiguousLayers.Count > 0 ? $", {ContiguousLayers.Count} conv(s) kept NCHW ({string.Join(", ", ContiguousLayers.Select(f => f.Layer))})" : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"folded {FoldedPairs.Count} BatchNorm, layout {Layout}{gain}{kept}, max |diff| {MaxAbsDifference:0.0e+00}");
    }
}
