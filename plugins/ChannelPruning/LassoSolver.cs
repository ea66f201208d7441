namespace Plugins.ChannelPruning;

/// <summary>
/// LASSO by cyclic coordinate descent on a Gram matrix: minimises ½βᵀGβ − bᵀβ + α‖β‖₁, which is
/// (1/2n)‖y − Zβ‖² + α‖β‖₁ up to a constant when G = ZᵀZ/n and b = Zᵀy/n (scikit-learn's Lasso objective).
/// Works on the C×C problem only, so the cost does not depend on the number of samples.
/// </summary>
internal static class LassoSolver
{
    /// <summary>Largest coordinate change below which the descent stops.</summary>
    public const double Tolerance = 1e-7;

    /// <summary>Upper bound on full sweeps over the coordinates.</summary>
    public const int MaxSweeps = 2000;

    /// <summary>Solves the problem for penalty <paramref name="alpha"/>, starting from <paramref name="start"/> (warm start)
    /// or zeros.</summary>
    public static double[] Solve(double[,] gram, double[] b, double alpha, double[]? start = null)
    {
        int c = b.Length;
        if (gram.GetLength(0) != c || gram.GetLength(1) != c)
            throw new ArgumentException($"Gram matrix is {gram.GetLength(0)}x{gram.GetLength(1)} but b has {c} entries.");
        var beta = start is null ? new double[c] : (double[])start.Clone();
        // r_j = b_j - Σ_k G_jk β_k, kept up to date so one coordinate update costs O(C).
        var r = (double[])b.Clone();
        for (int j = 0; j < c; j++)
            for (int k = 0; k < c; k++) r[j] -= gram[j, k] * beta[k];

        for (int sweep = 0; sweep < MaxSweeps; sweep++)
        {
            double largest = 0;
            for (int j = 0; j < c; j++)
            {
                double g = gram[j, j];
                if (g <= 0) { beta[j] = 0; continue; } // a channel that contributes nothing
                double rho = r[j] + g * beta[j];
                double next = SoftThreshold(rho, alpha) / g;
                double delta = next - beta[j];
                if (delta == 0) continue;
                for (int k = 0; k < c; k++) r[k] -= gram[k, j] * delta;
                beta[j] = next;
                largest = Math.Max(largest, Math.Abs(delta));
            }
            if (largest < Tolerance) break;
        }
        return beta;
    }

    /// <summary>Number of non-zero coefficients.</summary>
    public static int NonZero(double[] beta) => beta.Count(v => v != 0);

    private static double SoftThreshold(double x, double t) => x > t ? x - t : x < -t ? x + t : 0;
}
