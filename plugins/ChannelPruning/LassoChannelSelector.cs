namespace Plugins.ChannelPruning;

/// <summary>
/// Chooses which channels to keep as He et al. (2017) do: raise the LASSO penalty on the channel coefficients β until
/// no more than the target number are non-zero (doubling from the initial penalty, then bisecting), and keep the
/// target count with the largest |β|.
/// </summary>
internal static class LassoChannelSelector
{
    private const int MaxDoublings = 80;
    private const int MaxBisections = 60;

    /// <summary>The kept channel flags and the β of the solution they were ranked by.</summary>
    public sealed record Selection(bool[] Keep, double[] Beta, double Alpha);

    /// <summary>Selects <paramref name="keep"/> of the problem's channels.</summary>
    /// <param name="gram">C×C Gram matrix of the channel contributions.</param>
    /// <param name="b">Correlation of each channel's contribution with the target.</param>
    /// <param name="keep">Channels to keep, in [1, C].</param>
    /// <param name="alphaInit">First penalty tried; doubled until few enough channels survive.</param>
    /// <param name="segments">Pieces of the axis that must each keep a channel (a sliced group's
    /// <see cref="Trainer.Abstractions.Compression.ChannelGroupInfo.Segments"/>); null or one piece: no constraint.</param>
    public static Selection Select(double[,] gram, double[] b, int keep, double alphaInit,
        IReadOnlyList<Trainer.Abstractions.Compression.ChannelRange>? segments = null)
    {
        var pieces = segments ?? [];
        int c = b.Length;
        if (keep < 1 || keep > c) throw new ArgumentOutOfRangeException(nameof(keep), keep, $"keep must be in [1, {c}]");
        if (!(alphaInit > 0)) throw new ArgumentOutOfRangeException(nameof(alphaInit), alphaInit, "the initial penalty must be > 0");

        // With no penalty every channel is (generically) non-zero: that is the "too many" side of the search.
        double low = 0, high = alphaInit;
        double[] lowBeta = LassoSolver.Solve(gram, b, 0);
        double[] highBeta = LassoSolver.Solve(gram, b, high, lowBeta);
        for (int i = 0; LassoSolver.NonZero(highBeta) > keep && i < MaxDoublings; i++)
        {
            (low, lowBeta) = (high, highBeta);
            high *= 2;
            highBeta = LassoSolver.Solve(gram, b, high, lowBeta);
        }
        if (LassoSolver.NonZero(highBeta) == keep) return Finish(highBeta, keep, high, pieces);

        for (int i = 0; i < MaxBisections && LassoSolver.NonZero(lowBeta) != keep; i++)
        {
            double mid = (low + high) / 2;
            var beta = LassoSolver.Solve(gram, b, mid, lowBeta);
            int nz = LassoSolver.NonZero(beta);
            if (nz == keep) return Finish(beta, keep, mid, pieces);
            if (nz > keep) (low, lowBeta) = (mid, beta);
            else (high, highBeta) = (mid, beta);
        }
        // The count jumped over the target (ties); rank the side that still has enough non-zeros.
        return Finish(lowBeta, keep, low, pieces);
    }

    /// <summary>Keeps the <paramref name="keep"/> channels with the largest |β| (ties broken by index), the largest of each
    /// segment first.</summary>
    private static Selection Finish(double[] beta, int keep, double alpha, IReadOnlyList<Trainer.Abstractions.Compression.ChannelRange> segments)
    {
        return new Selection(Trainer.Core.Search.GroupChannelSelection.TopK(beta.Select(Math.Abs).ToArray(), keep, segments), beta, alpha);
    }
}
