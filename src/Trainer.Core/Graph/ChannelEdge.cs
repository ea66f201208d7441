namespace Trainer.Core.Graph;

/// <summary>What a layer does with the channels of a producer that reach it.</summary>
public enum EdgeRole
{
    /// <summary>A Conv2d or Linear reads the channels: its input channels (weight dimension 1) shrink with the producer.</summary>
    Consumer,
    /// <summary>BatchNorm, GroupNorm or a depthwise conv carries the channels through 1:1: it shrinks entirely with the producer.</summary>
    Follower,
    /// <summary>A layer the graph cannot shrink receives the channels (see <see cref="ModelGraph.Problems"/>).</summary>
    Unsupported,
}

/// <summary>A producer's output channels arrive at a layer's input with a mapping.</summary>
/// <param name="Producer">Module path of the producing Conv2d or Linear.</param>
/// <param name="Target">Module path of the layer that receives the channels.</param>
/// <param name="Mapping">Where producer channel c arrives in the target's input.</param>
/// <param name="Role">What the target does with them.</param>
/// <param name="ProducerChannels">The producer's output channel count.</param>
/// <param name="TargetWidth">Size of the target input's channel (or feature) dimension.</param>
public sealed record ChannelEdge(string Producer, string Target, ChannelMapping Mapping, EdgeRole Role,
    long ProducerChannels, long TargetWidth);
