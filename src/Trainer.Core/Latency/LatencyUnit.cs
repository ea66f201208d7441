namespace Trainer.Core.Latency;

/// <summary>
/// One timed piece of the model: a Conv2d or Linear with the layers that follow it alone (its BatchNorm, then
/// parameter-free layers such as ReLU and pooling), timed standalone at its real input size over a grid of input and
/// output widths. Widths are counted in channels of the groups that set them.
/// </summary>
/// <param name="Producer">The Conv2d or Linear.</param>
/// <param name="Layers">Every layer in the piece, in execution order (the producer first).</param>
/// <param name="InGroup">Allocatable group whose width is this piece's input width, or null when the input is fixed.</param>
/// <param name="OutGroup">Allocatable group of the producer, or null when its width is fixed.</param>
/// <param name="InCounts">Input widths of the grid, ascending (one value when fixed).</param>
/// <param name="OutCounts">Output widths of the grid, ascending (one value when fixed).</param>
/// <param name="Ms">Milliseconds (the table's quantile of the rounds): Ms[i][j] at InCounts[i], OutCounts[j].</param>
public sealed record LatencyUnit(string Producer, IReadOnlyList<string> Layers, string? InGroup, string? OutGroup,
    int[] InCounts, int[] OutCounts, double[][] Ms)
{
    /// <summary>
    /// Milliseconds at <paramref name="inCount"/> × <paramref name="outCount"/>: bilinear between grid points,
    /// linear beyond the grid's ends, never below 0.
    /// </summary>
    public double Predict(int inCount, int outCount)
    {
        var (i0, i1, ti) = Segment(InCounts, inCount);
        var (j0, j1, tj) = Segment(OutCounts, outCount);
        double low = Ms[i0][j0] + (Ms[i0][j1] - Ms[i0][j0]) * tj;
        double high = Ms[i1][j0] + (Ms[i1][j1] - Ms[i1][j0]) * tj;
        return Math.Max(0, low + (high - low) * ti);
    }

    /// <summary>Milliseconds at the full widths (the grid's last point).</summary>
    public double FullMs => Ms[^1][^1];

    /// <summary>The two grid indices around <paramref name="x"/> and the position between them (outside [0,1] beyond the ends).</summary>
    private static (int Lower, int Upper, double T) Segment(int[] grid, int x)
    {
        if (grid.Length == 1) return (0, 0, 0);
        int upper = 1;
        while (upper < grid.Length - 1 && grid[upper] < x) upper++;
        int lower = upper - 1;
        return (lower, upper, (double)(x - grid[lower]) / (grid[upper] - grid[lower]));
    }
}
