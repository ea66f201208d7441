namespace Trainer.Core.Graph;

/// <summary>The three ways a producer's output channel c can arrive at a layer's input.</summary>
public enum MappingKind
{
    /// <summary>c arrives at c.</summary>
    Identity,
    /// <summary>c arrives at c + k (the producer is a later part of a channel concatenation).</summary>
    Offset,
    /// <summary>c arrives at [k + c*size, k + (c+1)*size) (a flatten into a Linear layer).</summary>
    Block,
}

/// <summary>
/// Where a producer's output channel c arrives in a layer's input: positions
/// [<see cref="Offset"/> + c*<see cref="BlockSize"/>, <see cref="Offset"/> + (c+1)*<see cref="BlockSize"/>).
/// </summary>
/// <param name="Offset">Position of channel 0 in the layer's input (non-zero after a concatenation).</param>
/// <param name="BlockSize">Number of input positions per channel (1, or H*W after a flatten).</param>
public readonly record struct ChannelMapping(long Offset, long BlockSize)
{
    /// <summary>c → c.</summary>
    public static ChannelMapping Identity => new(0, 1);

    /// <summary>c → c + k.</summary>
    public static ChannelMapping OffsetBy(long k) => new(k, 1);

    /// <summary>c → [offset + c*size, offset + (c+1)*size).</summary>
    public static ChannelMapping Block(long size, long offset = 0) => new(offset, size);

    /// <summary>Identity, Offset or Block.</summary>
    public MappingKind Kind => BlockSize != 1 ? MappingKind.Block : Offset == 0 ? MappingKind.Identity : MappingKind.Offset;

    /// <summary>First input position of producer channel <paramref name="channel"/>.</summary>
    public long Start(long channel) => Offset + channel * BlockSize;

    /// <summary>Input positions [start, end) covered by a producer with <paramref name="channels"/> channels.</summary>
    public (long Start, long End) Span(long channels) => (Offset, Offset + channels * BlockSize);

    /// <summary>"identity", "offset(64)", "block(49)" or "block(49)+64".</summary>
    public override string ToString() => Kind switch
    {
        MappingKind.Identity => "identity",
        MappingKind.Offset => $"offset({Offset})",
        _ => Offset == 0 ? $"block({BlockSize})" : $"block({BlockSize})+{Offset}",
    };
}
