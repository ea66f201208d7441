using Trainer.Abstractions.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.LowRank;

/// <summary>
/// Data-driven factorizations of Zhang et al. (2016), "Accelerating Very Deep Convolutional Networks for Classification
/// and Detection". The layer's responses are approximated in a rank-r subspace: y ≈ M·ŷ + b with M = P·Qm of rank r,
/// where ŷ = W·x + b₀ is the current layer's response to the sampled inputs x and y the reference model's response at
/// the same positions (so errors of earlier factorized layers are absorbed: the asymmetric version). The layer then
/// becomes Q = Qm·W (k×k, Cin→r) followed by P (1×1, r→Cout) with bias M·b₀ + b.
/// </summary>
public static class ResponseFitter
{
    private const double LambdaStart = 0.01, LambdaEnd = 1.0;

    /// <summary>Linear case: reduced-rank regression of the reference responses on the current ones.</summary>
    public static LowRankFactors FitLinear(Tensor weight, Tensor? bias, LayerSamples samples, int rank)
    {
        using var scope = NewDisposeScope();
        var (w, b0, y, target) = Prepare(weight, bias, samples);
        using var map = ReducedRank(y, target, rank, b0 is not null);
        var error = (Approximate(y, map) - target).norm().item<double>();
        var norm = target.norm().item<double>();
        return ToFactors(map, w, b0,
            $"response error {error:G4} (relative {Relative(error, norm):P2}) on {y.shape[0]} samples, least squares");
    }

    /// <summary>
    /// Nonlinear case: fits M, b so that relu(M·ŷ + b) reproduces relu(y), by Zhang et al.'s alternating solution:
    /// an auxiliary Z with penalty λ·‖Z − (M·ŷ + b)‖², λ growing from 0.01 to 1 over <paramref name="iterations"/>;
    /// the Z-step is closed form per element, the M-step a reduced-rank regression. Starts from the linear solution and
    /// returns the best of the truncated SVD, the linear solution and every iterate by the post-ReLU error.
    /// </summary>
    public static LowRankFactors FitNonlinear(Tensor weight, Tensor? bias, LayerSamples samples, int rank, int iterations)
    {
        using var scope = NewDisposeScope();
        var (w, b0, y, target) = Prepare(weight, bias, samples);
        var hasBias = b0 is not null;
        var rectified = target.relu();
        var norm = rectified.norm().item<double>();
        double Error(ResponseMap m)
        {
            using var s = NewDisposeScope();
            return (Approximate(y, m).relu() - rectified).norm().item<double>();
        }

        var best = SvdMap(w, b0, rank);
        var svdError = Error(best);
        var bestError = svdError;
        var current = ReducedRank(y, target, rank, hasBias);
        for (var t = 0; ; t++)
        {
            var e = Error(current);
            if (e < bestError) { best.Dispose(); best = current; bestError = e; }
            if (t == iterations) { if (!ReferenceEquals(current, best)) current.Dispose(); break; }

            var lambda = LambdaStart * Math.Pow(LambdaEnd / LambdaStart, iterations == 1 ? 1 : t / (double)(iterations - 1));
            ResponseMap next;
            using (var step = NewDisposeScope())
            {
                var z = ZStep(rectified, Approximate(y, current), lambda);
                next = ReducedRank(y, z, rank, hasBias);
            }
            if (!ReferenceEquals(current, best)) current.Dispose();
            current = next;
        }
        using (best)
            return ToFactors(best, w, b0,
                $"post-ReLU response error {bestError:G4} (relative {Relative(bestError, norm):P2}; truncated SVD: " +
                $"{Relative(svdError, norm):P2}) on {y.shape[0]} samples");
    }

    /// <summary>Z = argmin (relu(y) − relu(z))² + λ(z − a)², per element: the better of the z ≥ 0 and z &lt; 0 minimizers.</summary>
    internal static Tensor ZStep(Tensor rectifiedTarget, Tensor approximation, double lambda)
    {
        using var scope = NewDisposeScope();
        var negative = approximation.clamp_max(0);
        var negativeCost = rectifiedTarget.square() + lambda * (negative - approximation).square();
        var positive = ((rectifiedTarget + lambda * approximation) / (1 + lambda)).clamp_min(0);
        var positiveCost = (rectifiedTarget - positive).square() + lambda * (positive - approximation).square();
        return where(positiveCost <= negativeCost, positive, negative).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Reduced-rank regression of <paramref name="z"/> on <paramref name="y"/> (both [N, C]): M_ols by least squares
    /// (centred when there is an intercept), then projected onto the top-r principal subspace P of the fitted
    /// responses: M = P·(Pᵀ·M_ols), b = z̄ − M·ȳ. The caller disposes the map.
    /// </summary>
    internal static ResponseMap ReducedRank(Tensor y, Tensor z, int rank, bool intercept)
    {
        using var scope = NewDisposeScope();
        var yMean = intercept ? y.mean([0L]) : zeros(y.shape[1], dtype: y.dtype);
        var zMean = intercept ? z.mean([0L]) : zeros(z.shape[1], dtype: z.dtype);
        var yc = y - yMean;
        var zc = z - zMean;
        // yc · M_olsᵀ ≈ zc; rcond drops the directions ŷ never spans (e.g. Cout > Cin·k·k).
        var mOlsT = linalg.lstsq(yc, zc, 1e-10).Solution;
        var fitted = yc.mm(mOlsT);
        var (_, vectors) = linalg.eigh(fitted.t().mm(fitted));
        // eigh sorts ascending: the top-r subspace is the last r columns.
        var p = vectors.narrow(1, vectors.shape[1] - rank, rank);
        var qm = p.t().mm(mOlsT.t());
        Tensor? b = intercept ? zMean - p.mm(qm.mv(yMean).unsqueeze(1)).squeeze(1) : null;
        return new ResponseMap(p.DetachFromDisposeScope(), qm.DetachFromDisposeScope(), b?.DetachFromDisposeScope());
    }

    /// <summary>M·ŷ + b for every sample row.</summary>
    internal static Tensor Approximate(Tensor y, ResponseMap map)
    {
        var a = y.mm(map.Qm.t()).mm(map.P.t());
        return map.B is null ? a : a.add_(map.B);
    }

    /// <summary>The truncated SVD as a response map: M = U_r·U_rᵀ, b = b₀ − M·b₀, so M·ŷ + b = W_r·x + b₀.</summary>
    private static ResponseMap SvdMap(Tensor w, Tensor? b0, int rank)
    {
        using var scope = NewDisposeScope();
        var (u, _, _) = linalg.svd(w, fullMatrices: false);
        var ur = u.narrow(1, 0, rank);
        var b = b0 is null ? null : b0 - ur.mv(ur.t().mv(b0));
        return new ResponseMap(ur.DetachFromDisposeScope(), ur.t().contiguous().DetachFromDisposeScope(), b?.DetachFromDisposeScope());
    }

    private static (Tensor W, Tensor? B0, Tensor Y, Tensor Target) Prepare(Tensor weight, Tensor? bias, LayerSamples samples)
    {
        var n = samples.Inputs.shape[0];
        var w = weight.to_type(ScalarType.Float64).reshape(weight.shape[0], -1);
        if (samples.Inputs.shape[1] * samples.Inputs.shape[2] != w.shape[1] || samples.Responses.shape[1] != w.shape[0])
            throw new ArgumentException(
                $"sampled inputs [{string.Join(", ", samples.Inputs.shape)}] / responses [{string.Join(", ", samples.Responses.shape)}] " +
                $"do not fit a weight of shape [{string.Join(", ", weight.shape)}]");
        var x = samples.Inputs.to_type(ScalarType.Float64).reshape(n, -1);
        var b0 = bias?.to_type(ScalarType.Float64, copy: true);
        var y = x.mm(w.t());
        if (b0 is not null) y.add_(b0);
        return (w, b0, y, samples.Responses.to_type(ScalarType.Float64));
    }

    private static LowRankFactors ToFactors(ResponseMap map, Tensor w, Tensor? b0, string error)
    {
        using var scope = NewDisposeScope();
        var q = map.Qm.mm(w);
        Tensor? bias = b0 is null ? null : map.P.mv(map.Qm.mv(b0)) + (map.B ?? zeros_like(b0));
        // Detached: the caller owns the factors, whatever scopes it runs in.
        return new LowRankFactors(map.P.clone().DetachFromDisposeScope(), q.DetachFromDisposeScope(),
            bias?.DetachFromDisposeScope(), error);
    }

    private static double Relative(double error, double norm) => norm == 0 ? 0 : error / norm;
}

/// <summary>A rank-r response map M = P·Qm ([Cout, r]·[r, Cout]) with offset B ([Cout] or null), float64. Its tensors
/// belong to no dispose scope: whoever holds the map disposes it.</summary>
internal sealed record ResponseMap(Tensor P, Tensor Qm, Tensor? B) : IDisposable
{
    public void Dispose()
    {
        P.Dispose();
        Qm.Dispose();
        B?.Dispose();
    }
}
