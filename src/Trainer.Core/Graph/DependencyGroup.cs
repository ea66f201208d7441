namespace Trainer.Core.Graph;

/// <summary>Where one producer's output channels lie on its dependency group's channel axis: [Offset, Offset + Count).</summary>
/// <param name="Offset">Position of the producer's channel 0 on the group's axis.</param>
/// <param name="Count">The producer's output channel count.</param>
public readonly record struct ChannelSlice(long Offset, long Count);

/// <summary>
/// Producers whose output channels must be pruned together (they meet at residual adds or multiplications),
/// with the layers that shrink with them. The group has one channel axis of <see cref="Channels"/> positions; each
/// producer covers a slice of it (<see cref="SliceOf"/>): the whole axis for producers that meet full-width, or part
/// of it for the inputs of a concatenation that meets a full-width tensor (channels [a, b) of the concatenation are
/// tied to channels [a, b) of the other operand only). A group mask over the axis gives every producer's mask.
/// </summary>
/// <param name="Id">Position of the group (0-based, in execution order of its first producer).</param>
/// <param name="Producers">Module paths of the coupled producers, in execution order.</param>
/// <param name="Followers">BatchNorm, GroupNorm, LayerNorm and depthwise layers that carry these channels, in execution order.</param>
/// <param name="Channels">The width of the group's channel axis (the common output channel count when there are no slices).</param>
/// <param name="Problems">Problems that touch a producer, follower or consumer of this group; non-empty means do not prune it.</param>
/// <param name="Slices">Producer → its slice of the axis; null when every producer covers the whole axis.</param>
public sealed record DependencyGroup(int Id, IReadOnlyList<string> Producers, IReadOnlyList<string> Followers,
    long Channels, IReadOnlyList<GraphProblem> Problems, IReadOnlyDictionary<string, ChannelSlice>? Slices = null)
{
    /// <summary>True when more than one producer is in the group.</summary>
    public bool IsCoupled => Producers.Count > 1;

    /// <summary>True when no problem touches the group, so its channels can be pruned.</summary>
    public bool IsPrunable => Problems.Count == 0;

    /// <summary>True when some producer covers only part of the group's axis.</summary>
    public bool IsSliced => Producers.Any(p => SliceOf(p).Count != Channels);

    /// <summary>The slice of the axis <paramref name="producer"/> covers.</summary>
    /// <exception cref="KeyNotFoundException">Not a producer of this group.</exception>
    public ChannelSlice SliceOf(string producer)
    {
        if (!Producers.Contains(producer)) throw new KeyNotFoundException($"'{producer}' is not a producer of group {Id}");
        return Slices is not null && Slices.TryGetValue(producer, out var slice) ? slice : new ChannelSlice(0, Channels);
    }

    /// <summary>Every producer's mask cut from a mask over the group's axis.</summary>
    /// <exception cref="ArgumentException">The mask's length is not <see cref="Channels"/>.</exception>
    public IReadOnlyDictionary<string, bool[]> ProducerMasks(bool[] groupMask)
    {
        ArgumentNullException.ThrowIfNull(groupMask);
        if (groupMask.Length != Channels)
            throw new ArgumentException($"group {Id} has {Channels} channels; the mask has {groupMask.Length}", nameof(groupMask));
        return Producers.ToDictionary(p => p, p =>
        {
            var slice = SliceOf(p);
            return groupMask.AsSpan((int)slice.Offset, (int)slice.Count).ToArray();
        });
    }
}
