namespace Trainer.Core.Graph;

/// <summary>
/// The NaN marker of one analysis pass and how to read it back: the producer's output gets NaN in
/// channels 0, 1 and C-1. Channels 0 and C-1 tell identity, offset and block apart; channel 1 also
/// catches permutations that keep both ends in place (a channel shuffle maps 0→0 and C-1→C-1).
/// </summary>
internal static class MarkerPattern
{
    /// <summary>The marked channels of a producer with <paramref name="channels"/> outputs, ascending, distinct.</summary>
    public static long[] Channels(long channels) =>
        channels <= 0 ? [] : new SortedSet<long> { 0, Math.Min(1, channels - 1), channels - 1 }.ToArray();

    /// <summary>
    /// Reads the mapping from the sorted input positions where NaN arrived: positions must be exactly
    /// [k + m*s, k + (m+1)*s) for each marked channel m, and the producer's span must fit in <paramref name="width"/>.
    /// </summary>
    public static bool TryFit(IReadOnlyList<long> sorted, long channels, long width, out ChannelMapping mapping)
    {
        mapping = default;
        var marks = Channels(channels);
        if (sorted.Count == 0 || marks.Length == 0 || sorted.Count % marks.Length != 0) return false;
        long size = sorted.Count / marks.Length, offset = sorted[0];
        if (offset + channels * size > width) return false;
        int index = 0;
        foreach (var m in marks)
            for (long j = 0; j < size; j++)
                if (sorted[index++] != offset + m * size + j) return false;
        mapping = new ChannelMapping(offset, size);
        return true;
    }
}
