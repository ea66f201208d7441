using TorchSharp;
using static TorchSharp.torch;

namespace Plugins.LowRank;

/// <summary>
/// A rank-r factorization W ≈ P·Q of a layer's Cout × (Cin·k·k) weight, float64, owned by this object (dispose it).
/// The layer then computes P·(Q·x) + Bias: Q becomes the k×k conv Cin→r (or Linear in→r), P the 1×1 conv r→Cout
/// (or Linear r→out) carrying the bias.
/// </summary>
/// <param name="P">[Cout, r]: the second layer's weight.</param>
/// <param name="Q">[r, Cin·k·k]: the first layer's weight.</param>
/// <param name="Bias">[Cout] bias of the second layer; null when the layer has none.</param>
/// <param name="Error">The fit's error, in words (what was measured and its value).</param>
public sealed record LowRankFactors(Tensor P, Tensor Q, Tensor? Bias, string Error) : IDisposable
{
    /// <summary>The rank r.</summary>
    public int Rank => (int)Q.shape[0];

    /// <summary>Disposes the factor tensors.</summary>
    public void Dispose()
    {
        P.Dispose();
        Q.Dispose();
        Bias?.Dispose();
    }
}

/// <summary>Truncated SVD: the rank-r weight closest to W in Frobenius norm (Eckart–Young), split evenly as
/// P = U_r·S_r^½ and Q = S_r^½·V_rᵀ.</summary>
public static class SvdFactorizer
{
    /// <summary>Factorizes <paramref name="weight"/> ([Cout, Cin, k, k] or [Cout, in], any float type) at <paramref name="rank"/>;
    /// <paramref name="bias"/> ([Cout] or null) is kept as it is.</summary>
    public static LowRankFactors Factorize(Tensor weight, Tensor? bias, int rank)
    {
        using var scope = NewDisposeScope();
        var w = weight.to_type(ScalarType.Float64).reshape(weight.shape[0], -1);
        var (u, s, vh) = linalg.svd(w, fullMatrices: false);
        var root = s.narrow(0, 0, rank).sqrt();
        var p = u.narrow(1, 0, rank) * root.unsqueeze(0);
        var q = root.unsqueeze(1) * vh.narrow(0, 0, rank);
        // Eckart–Young: the error is the norm of the discarded singular values.
        var discarded = s.narrow(0, rank, s.shape[0] - rank).square().sum().sqrt().item<double>();
        var total = s.square().sum().sqrt().item<double>();
        var error = $"weight error {discarded:G4} (relative {(total == 0 ? 0 : discarded / total):P2})";
        // Detached: the caller owns the factors, whatever scopes it runs in.
        return new LowRankFactors(p.DetachFromDisposeScope(), q.DetachFromDisposeScope(),
            bias?.to_type(ScalarType.Float64, copy: true).DetachFromDisposeScope(), error);
    }
}
