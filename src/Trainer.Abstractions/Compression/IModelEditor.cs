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

    /// <summary>Conv2d and Linear layers of the current model, in execution order.</summary>
    IReadOnlyList<WeightLayerInfo> Layers { get; }

    /// <summary>Multiply-accumulates and parameters of the current model (Conv2d/Linear MACs, as NNI's default mode).</summary>
    ModelCost Cost { get; }

    /// <summary>Multiply-accumulates the current model would have if each named group kept the given number of channels
    /// (groups not named keep theirs). Changes nothing; use it to aim at a FLOPs target.</summary>
    /// <param name="keptChannelsByGroup"><see cref="ChannelGroupInfo.Id"/> → kept channel count.</param>
    /// <exception cref="ArgumentException">A group id is unknown or blocked, or a count is outside [1, Channels].</exception>
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
/// <param name="Producers">Conv2d/Linear layers whose outputs must keep the same channels.</param>
/// <param name="Consumers">Layers that read these channels, with how they map onto the consumer's inputs.</param>
/// <param name="Channels">Current channel count.</param>
/// <param name="BlockedBy">Why the group cannot be pruned (e.g. it feeds the model output, or the graph found a problem);
/// null when it can.</param>
public sealed record ChannelGroupInfo(string Id, IReadOnlyList<string> Producers, IReadOnlyList<ChannelConsumer> Consumers,
    int Channels, string? BlockedBy)
{
    /// <summary>True when the group's channels can be pruned.</summary>
    public bool IsPrunable => BlockedBy is null;
}

/// <summary>A Conv2d or Linear that reads a group's channels. Producer channel c lands on the consumer's input positions
/// [Offset + c·BlockSize, Offset + (c+1)·BlockSize): BlockSize is 1 for convs, h·w for a flatten into a Linear.</summary>
public sealed record ChannelConsumer(string Layer, int Offset, int BlockSize);

/// <summary>One Conv2d or Linear of the model.</summary>
/// <param name="Name">Qualified module path.</param>
/// <param name="Type">"Conv2d" or "Linear".</param>
/// <param name="InChannels">Input channels (features for a Linear).</param>
/// <param name="OutChannels">Output channels (features for a Linear).</param>
/// <param name="KernelSize">Kernel height and width (1, 1 for a Linear).</param>
/// <param name="Groups">Conv groups (1 for a Linear).</param>
/// <param name="Macs">Multiply-accumulates for one example input.</param>
/// <param name="OutputShape">Output shape for the example input, batch included.</param>
public sealed record WeightLayerInfo(string Name, string Type, int InChannels, int OutChannels,
    (int Height, int Width) KernelSize, int Groups, long Macs, IReadOnlyList<long> OutputShape);

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
