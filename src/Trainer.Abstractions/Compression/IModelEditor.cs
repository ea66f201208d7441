using TorchSharp;

namespace Trainer.Abstractions.Compression;

/// <summary>
/// The core's structural operations on the model a compressor works on (<see cref="CompressionRequest.Model"/>).
/// Compressors choose (which channels, which rank, which weights); the editor changes the structure, keeps every
/// dependent layer consistent, and records each edit so the host can save and replay it.
/// </summary>
/// <remarks>Every member reflects the model as it is after the edits made so far.</remarks>
public interface IModelEditor
{
    /// <summary>Channel groups of the current model, in execution order of their first producer.</summary>
    IReadOnlyList<ChannelGroupInfo> ChannelGroups { get; }

    /// <summary>Conv1d/2d/3d, ConvTranspose1d/2d/3d and Linear layers of the current model, in execution order
    /// (contract 1.0 listed Conv2d and Linear only: filter on <see cref="WeightLayerInfo.Type"/>).</summary>
    IReadOnlyList<WeightLayerInfo> Layers { get; }

    /// <summary>Multiply-accumulates and parameters of the current model (Conv2d/Linear MACs, as NNI's default mode).</summary>
    ModelCost Cost { get; }

    /// <summary>Multiply-accumulates the current model would have if each named group kept the given number of channels
    /// (groups not named keep theirs), counts rounded up to the RoundTo multiple as <see cref="ShrinkChannels"/> rounds them.
    /// Changes nothing; use it to aim at a FLOPs target. A sliced group's count is taken as spread over its
    /// <see cref="ChannelGroupInfo.Segments"/> in proportion to their widths (at least one each): its producers' MACs depend
    /// on how many channels each keeps, so a shrink that keeps them otherwise counts somewhat differently.</summary>
    /// <param name="keptChannelsByGroup"><see cref="ChannelGroupInfo.Id"/> → kept channel count.</param>
    /// <exception cref="ArgumentException">A group id is unknown or blocked, or a count is outside [MinKept, Channels]
    /// (<see cref="ChannelGroupInfo.MinKept"/>).</exception>
    long MacsIfKept(IReadOnlyDictionary<string, int> keptChannelsByGroup);

    /// <summary>
    /// Keeps only the flagged output channels of each named group: its producers, the layers that carry the channels
    /// (BatchNorm, depthwise convs) and the consumers' input channels (including concat offsets and flatten blocks)
    /// shrink together. Counts may be rounded up to the editor's RoundTo multiple (the extra channels kept are the
    /// first unflagged ones by index). Runs a forward check afterwards.
    /// </summary>
    /// <param name="keptChannelsByGroup"><see cref="ChannelGroupInfo.Id"/> → one flag per current channel (true keeps).</param>
    /// <returns>What changed; flags actually kept per group, after rounding.</returns>
    /// <exception cref="ArgumentException">A group id is unknown or blocked, flags have the wrong length or keep nothing, or a
    /// grouped conv/GroupNorm needs another multiple; the message names the group, and the model is unchanged.</exception>
    ShrinkSummary ShrinkChannels(IReadOnlyDictionary<string, bool[]> keptChannelsByGroup);

    /// <summary>
    /// Replaces a Conv2d (k×k, Cin→Cout) by Sequential(conv k×k Cin→rank without bias, conv 1×1 rank→Cout with the
    /// original bias), or a Linear by Sequential(Linear in→rank without bias, Linear rank→out). The new layers have
    /// freshly initialised weights; the caller fills them. The old layer's name becomes the Sequential's ("fc1" →
    /// "fc1.0", "fc1.1").
    /// </summary>
    /// <exception cref="ArgumentException">The layer is not a Conv2d/Linear of the model, is grouped, or rank is not in [1, full rank].</exception>
    FactorizedLayer Factorize(string layer, int rank);

    /// <summary>
    /// Samples one layer: its inputs taken from the current model, and its outputs taken from the reference model (the
    /// model as it was when this compression step started) at the same positions of the same images. The images are
    /// ceil(TrainsetRatio · batches) batches of the training data chosen by Seed; the geometry (kernel, stride, padding,
    /// dilation) is the reference layer's. Inputs have the current model's channels, responses the reference's.
    /// </summary>
    /// <exception cref="ArgumentException">The layer is unknown, or the options would take no sample.</exception>
    /// <exception cref="InvalidOperationException">The host gave the editor no training data or no reference model.</exception>
    LayerSamples Sample(string layer, SamplingOptions options);
}

/// <summary>Producers whose output channels are pruned together, and who reads them.</summary>
/// <param name="Id">Stable name of the group: its first producer's path.</param>
/// <param name="Producers">Layers whose outputs must keep the same channels: Conv1d/2d/3d, ConvTranspose1d/2d/3d (groups 1)
/// or Linear (see <see cref="IModelEditor.Layers"/> for their types).</param>
/// <param name="Consumers">Layers that read the group's whole channel axis, with how it maps onto the consumer's inputs.</param>
/// <param name="Channels">Current channel count (the width of the group's channel axis).</param>
/// <param name="BlockedBy">Why the group cannot be pruned (e.g. it feeds the model output, or the graph found a problem);
/// null when it can.</param>
/// <remarks>
/// Since contract 1.1 a group may be sliced: when a concatenation meets a full-width tensor (a residual add around it, a
/// squeeze-excitation gate on it), each concatenated input covers only its slice of the axis (<see cref="ProducerSlices"/>),
/// and layers that read one input of the concatenation alone read only that slice (<see cref="SliceConsumers"/>). A
/// channel mask is always over the whole axis; the editor cuts each producer by its slice.
/// </remarks>
public sealed record ChannelGroupInfo(string Id, IReadOnlyList<string> Producers, IReadOnlyList<ChannelConsumer> Consumers,
    int Channels, string? BlockedBy)
{
    /// <summary>True when the group's channels can be pruned.</summary>
    public bool IsPrunable => BlockedBy is null;

    /// <summary>Producer → the channels of the axis it produces, for producers that cover only part of it; producers not
    /// listed cover the whole axis (empty for a group without slices). Since contract 1.1.</summary>
    public IReadOnlyDictionary<string, ChannelRange> ProducerSlices { get; init; } = new Dictionary<string, ChannelRange>();

    /// <summary>Reads of the group's channels that <see cref="Consumers"/> does not describe, each one contiguous range of
    /// the axis (<see cref="ChannelConsumer.Reads"/>) landing on a layer's inputs; a layer may be listed once per range it
    /// reads. Empty for a group without slices. Since contract 1.1.</summary>
    public IReadOnlyList<ChannelConsumer> SliceConsumers { get; init; } = [];

    /// <summary>True when some producer covers only part of the axis.</summary>
    public bool IsSliced => ProducerSlices.Values.Any(s => s.Count != Channels);

    /// <summary>The channels of the axis <paramref name="producer"/> produces: its producer channel j is group channel
    /// Offset + j.</summary>
    /// <exception cref="ArgumentException">Not a producer of this group.</exception>
    public ChannelRange SliceOf(string producer)
    {
        if (!Producers.Contains(producer))
            throw new ArgumentException($"'{producer}' is not a producer of channel group '{Id}'", nameof(producer));
        return ProducerSlices.TryGetValue(producer, out var slice) ? slice : new ChannelRange(0, Channels);
    }

    /// <summary>The pieces the slice boundaries cut the axis into, in order (the whole axis for a group without slices). A
    /// shrink must keep at least one channel of each, so that no producer loses all of its channels.</summary>
    public IReadOnlyList<ChannelRange> Segments
    {
        get
        {
            var cuts = new SortedSet<int> { 0, Channels };
            foreach (var s in ProducerSlices.Values)
            {
                cuts.Add(s.Offset);
                cuts.Add(s.Offset + s.Count);
            }
            var list = cuts.Where(c => c >= 0 && c <= Channels).ToList();
            return list.Zip(list.Skip(1), (a, b) => new ChannelRange(a, b - a)).ToList();
        }
    }

    /// <summary>The fewest channels a shrink may keep: one per <see cref="Segments"/> entry (1 without slices).</summary>
    public int MinKept => Segments.Count;
}

/// <summary>Channels [Offset, Offset + Count) of a group's channel axis.</summary>
/// <param name="Offset">First channel.</param>
/// <param name="Count">Number of channels.</param>
public readonly record struct ChannelRange(int Offset, int Count)
{
    /// <summary>True when <paramref name="channel"/> lies in the range.</summary>
    public bool Contains(int channel) => channel >= Offset && channel < Offset + Count;
}

/// <summary>A layer that reads a group's channels. In <see cref="ChannelGroupInfo.Consumers"/> group channel c lands on
/// the consumer's input positions [Offset + c·BlockSize, Offset + (c+1)·BlockSize): BlockSize is 1 for convs, h·w for a
/// flatten into a Linear. In <see cref="ChannelGroupInfo.SliceConsumers"/> only the channels c in <see cref="Reads"/> reach
/// the layer, at [Offset + (c − Reads.Offset)·BlockSize, …).</summary>
/// <param name="Layer">Qualified module path of the consumer (any type <see cref="IModelEditor.Layers"/> lists).</param>
/// <param name="Offset">Input position of the first channel read.</param>
/// <param name="BlockSize">Input positions per channel.</param>
public sealed record ChannelConsumer(string Layer, int Offset, int BlockSize)
{
    /// <summary>The channels of the axis this layer reads; null for the whole axis. Since contract 1.1.</summary>
    public ChannelRange? Reads { get; init; }

    /// <summary>The consumer's first input position of group channel <paramref name="channel"/>, or null when the layer does
    /// not read it.</summary>
    public int? InputOf(int channel) => Reads is { } r
        ? r.Contains(channel) ? Offset + (channel - r.Offset) * BlockSize : null
        : Offset + channel * BlockSize;
}

/// <summary>One weight layer of the model: Conv1d/2d/3d, ConvTranspose1d/2d/3d or Linear.</summary>
/// <param name="Name">Qualified module path.</param>
/// <param name="Type">The module's type: "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"
/// or "Linear" (contract 1.0 had Conv2d and Linear only).</param>
/// <param name="InChannels">Input channels (features for a Linear).</param>
/// <param name="OutChannels">Output channels (features for a Linear).</param>
/// <param name="KernelSize">Kernel height and width (1, 1 for a Linear; 1, k for a 1-d kernel; the last two sizes of a 3-d
/// kernel, all of which <see cref="Kernel"/> gives).</param>
/// <param name="Groups">Conv groups (1 for a Linear).</param>
/// <param name="Macs">Multiply-accumulates for one example input.</param>
/// <param name="OutputShape">Output shape for the example input, batch included.</param>
public sealed record WeightLayerInfo(string Name, string Type, int InChannels, int OutChannels,
    (int Height, int Width) KernelSize, int Groups, long Macs, IReadOnlyList<long> OutputShape)
{
    /// <summary>Every kernel size, one per spatial dimension ([k] for a 1-d conv, [kd, kh, kw] for a 3-d one; empty for a
    /// Linear). Since contract 1.1; a record created without it gives <see cref="KernelSize"/>'s two sizes.</summary>
    public IReadOnlyList<int> Kernel
    {
        get => kernel ?? (Type == "Linear" ? [] : [KernelSize.Height, KernelSize.Width]);
        init => kernel = value;
    }

    private readonly IReadOnlyList<int>? kernel;

    /// <summary>True for ConvTranspose1d/2d/3d, whose weight is [in, out/groups, kernel...]: output channels are dimension 1.</summary>
    public bool IsTransposed => Type.StartsWith("ConvTranspose", StringComparison.Ordinal);
}

/// <summary>Cost of a model for one example input.</summary>
public readonly record struct ModelCost(long Macs, long Params);

/// <summary>What <see cref="IModelEditor.ShrinkChannels"/> did.</summary>
/// <param name="KeptByGroup">Group id → flags actually kept (after rounding).</param>
/// <param name="Before">Cost before.</param>
/// <param name="After">Cost after.</param>
public sealed record ShrinkSummary(IReadOnlyDictionary<string, bool[]> KeptByGroup, ModelCost Before, ModelCost After);

/// <summary>The two layers that replaced a factorized one, to be filled by the caller (weights under no_grad).</summary>
/// <param name="First">Conv k×k Cin→rank or Linear in→rank (no bias).</param>
/// <param name="Second">Conv 1×1 rank→Cout or Linear rank→out (bias as the original had).</param>
public sealed record FactorizedLayer(torch.nn.Module<torch.Tensor, torch.Tensor> First, torch.nn.Module<torch.Tensor, torch.Tensor> Second);

/// <summary>How to sample a layer's inputs and responses.</summary>
/// <param name="TrainsetRatio">Fraction of the training data's batches to use, in (0, 1].</param>
/// <param name="PixelsPerImage">Output positions sampled per image (convs only; a Linear gives one row per image).</param>
/// <param name="Seed">Seed of the position sampling.</param>
/// <param name="MaxRows">Upper bound on the rows returned (0: no bound).</param>
public sealed record SamplingOptions(double TrainsetRatio = 0.05, int PixelsPerImage = 10, int Seed = 0, int MaxRows = 0);

/// <summary>Sampled inputs and responses of one layer; both tensors are owned by the caller (dispose them).</summary>
/// <param name="Inputs">[N, InChannels, kh·kw]: the input patch that produced each sampled output (from the current model).
/// For a Linear: [N, InFeatures, 1].</param>
/// <param name="Responses">[N, OutChannels]: the reference model's layer output at the same position, bias included.</param>
public sealed record LayerSamples(torch.Tensor Inputs, torch.Tensor Responses) : IDisposable
{
    /// <summary>Disposes both tensors.</summary>
    public void Dispose()
    {
        Inputs.Dispose();
        Responses.Dispose();
    }
}
