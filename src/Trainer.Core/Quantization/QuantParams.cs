namespace Trainer.Core.Quantization;

/// <summary>
/// The quantization setting of one tensor: bit width, scheme, granularity and the integer grid [<see cref="QMin"/>, <see cref="QMax"/>].
/// </summary>
/// <remarks>
/// Signed grids generalise qint8 to k bits: [-2^(k-1), 2^(k-1)-1]. Unsigned grids generalise quint8: [0, 2^k-1].
/// <see cref="NarrowRange"/> drops the most negative signed level ([-127, 127] for 8 bits), as PyTorch's
/// <c>weight_observer_range_neg_127_to_127</c> and NNI's QAT int grid do; the symmetric scale is then max|x|/(2^(k-1)-1).
/// </remarks>
public sealed record QuantParams
{
    /// <summary>Smallest accepted bit width.</summary>
    public const int MinBits = 1;

    /// <summary>Largest accepted bit width.</summary>
    public const int MaxBits = 16;

    /// <summary>Creates and validates a setting.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Bits outside 1..16, or a narrow range below 2 bits or on an unsigned grid.</exception>
    public QuantParams(int bits, QuantScheme scheme = QuantScheme.Symmetric, QuantGranularity granularity = default,
        bool signed = true, bool narrowRange = false)
    {
        if (bits < MinBits || bits > MaxBits)
            throw new ArgumentOutOfRangeException(nameof(bits), bits,
                $"Quantization bits must be between {MinBits} and {MaxBits}; got {bits}.");
        if (narrowRange && (!signed || bits < 2))
            throw new ArgumentOutOfRangeException(nameof(narrowRange), narrowRange,
                $"A narrow range needs a signed grid of at least 2 bits; got {(signed ? "signed" : "unsigned")} {bits} bits.");
        Bits = bits;
        Scheme = scheme;
        Granularity = granularity;
        Signed = signed;
        NarrowRange = narrowRange;
    }

    /// <summary>Bit width, 1..16.</summary>
    public int Bits { get; }

    /// <summary>Symmetric or affine.</summary>
    public QuantScheme Scheme { get; }

    /// <summary>Per tensor or per channel along an axis.</summary>
    public QuantGranularity Granularity { get; }

    /// <summary>True for a signed (qint) grid, false for an unsigned (quint) grid.</summary>
    public bool Signed { get; }

    /// <summary>True drops the most negative signed level so the grid is symmetric.</summary>
    public bool NarrowRange { get; }

    /// <summary>Lowest integer level.</summary>
    public int QMin => Signed ? -(1 << (Bits - 1)) + (NarrowRange ? 1 : 0) : 0;

    /// <summary>Highest integer level.</summary>
    public int QMax => Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1;

    /// <inheritdoc/>
    public override string ToString() => $"{Bits}-bit {Scheme} {Granularity} [{QMin}, {QMax}]";
}
