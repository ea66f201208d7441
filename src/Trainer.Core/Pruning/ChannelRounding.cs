namespace Trainer.Core.Pruning;

/// <summary>
/// Rounds the number of channels a compressor keeps, so that shrunk layers keep hardware-friendly widths
/// (multiples of 8 vectorise well). Rounding is the chooser's job: a compressor rounds the count it wants,
/// then picks that many channels; <see cref="ChannelShrinker"/> takes exact masks and never rounds.
/// </summary>
public static class ChannelRounding
{
    /// <summary>
    /// The number of channels to keep: <paramref name="wanted"/> rounded up to a multiple of <paramref name="roundTo"/>
    /// (rounding up keeps more, as Torch-Pruning's round_to does), never above <paramref name="original"/> (when the
    /// next multiple is above it, all channels are kept) and never 0 (at least one multiple, or all when the layer is smaller).
    /// </summary>
    /// <param name="original">The layer's channel count now (at least 1).</param>
    /// <param name="wanted">How many channels the compressor wants to keep; values below 1 count as 1, above the original as the original.</param>
    /// <param name="roundTo">The multiple (1 = no rounding).</param>
    /// <returns>A count in [1, <paramref name="original"/>].</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="original"/> or <paramref name="roundTo"/> is below 1.</exception>
    public static int RoundKeptCount(int original, int wanted, int roundTo)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(original, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
        long kept = Math.Clamp(wanted, 1, original);
        long rounded = (kept + roundTo - 1) / roundTo * roundTo;
        return (int)Math.Min(rounded, original);
    }

    /// <summary>True when <paramref name="kept"/> is a multiple of <paramref name="roundTo"/> or equals <paramref name="original"/>.</summary>
    public static bool IsRounded(long original, long kept, int roundTo) => roundTo <= 1 || kept == original || kept % roundTo == 0;
}
