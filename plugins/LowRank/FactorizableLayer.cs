using Trainer.Abstractions.Compression;

namespace Plugins.LowRank;

/// <summary>
/// A Conv2d (k×k, Cin→Cout) or Linear seen as a Cout × (Cin·k·k) matrix applied at some output positions, and what a
/// rank-r factorization (k×k Cin→r, then 1×1 r→Cout) would cost.
/// </summary>
/// <param name="Name">Qualified layer name.</param>
/// <param name="Type">"Conv2d" or "Linear".</param>
/// <param name="Columns">Cin·kh·kw: the length of one input patch.</param>
/// <param name="Rows">Cout: output channels or features.</param>
/// <param name="Macs">Multiply-accumulates of the layer now, for one example input.</param>
public sealed record FactorizableLayer(string Name, string Type, int Columns, int Rows, long Macs)
{
    /// <summary>The largest rank a factorization can have: min(Cout, Cin·k·k).</summary>
    public int FullRank => Math.Min(Columns, Rows);

    /// <summary>Output positions the weight is applied at (Hout·Wout for a conv, 1 for a Linear).</summary>
    public long Positions => Macs / ((long)Columns * Rows);

    /// <summary>MACs of the two layers at <paramref name="rank"/>: r·(Cin·k·k + Cout) per position.</summary>
    public long MacsAt(int rank) => Positions * rank * ((long)Columns + Rows);

    /// <summary>True when a rank-<paramref name="rank"/> factorization needs fewer MACs than the layer: r·(Cin·k·k + Cout) &lt; Cin·k·k·Cout.</summary>
    public bool SavesAt(int rank) => (long)rank * ((long)Columns + Rows) < (long)Columns * Rows;

    /// <summary>The largest rank that still saves MACs (0 when none does).</summary>
    public int MaxSavingRank => (int)(((long)Columns * Rows - 1) / ((long)Columns + Rows));

    /// <summary>The rank whose MACs are at most <paramref name="keepFraction"/> of the layer's, at least 1 and at most
    /// <see cref="MaxSavingRank"/>.</summary>
    public int RankFor(double keepFraction) =>
        Math.Clamp((int)Math.Floor(keepFraction * Columns * Rows / ((double)Columns + Rows) + 1e-9), 1, Math.Max(1, MaxSavingRank));

    /// <summary>Views an editor layer; null when it cannot be factorized (grouped conv), with the reason.</summary>
    public static FactorizableLayer? From(WeightLayerInfo info, out string? whyNot)
    {
        whyNot = null;
        if (info.Groups != 1)
        {
            whyNot = $"grouped {info.Type} (groups={info.Groups}) cannot be factorized";
            return null;
        }
        var columns = info.InChannels * info.KernelSize.Height * info.KernelSize.Width;
        return new FactorizableLayer(info.Name, info.Type, columns, info.OutChannels, info.Macs);
    }
}
