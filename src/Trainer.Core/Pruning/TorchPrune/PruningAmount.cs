namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>
/// How much a pruning method removes, as torch.nn.utils.prune takes it: a count of entries or channels (an integer,
/// at least 0) or a fraction of them in [0, 1]. A whole number converts to a count and a floating-point number to a
/// fraction, so <c>2</c> prunes two entries while <c>2.0</c> is refused and <c>1.0</c> prunes everything.
/// </summary>
public readonly struct PruningAmount : IEquatable<PruningAmount>
{
    private readonly long _count;
    private readonly double _fraction;

    private PruningAmount(bool isCount, long count, double fraction)
    {
        IsCount = isCount;
        _count = count;
        _fraction = fraction;
    }

    /// <summary>True when the amount is a count of entries or channels, false when it is a fraction of them.</summary>
    public bool IsCount { get; }

    /// <summary>A count of entries or channels to prune; throws when <paramref name="count"/> is negative.</summary>
    public static PruningAmount Count(long count) =>
        count >= 0
            ? new PruningAmount(true, count, 0)
            : throw new ArgumentOutOfRangeException(nameof(count), count,
                $"amount={count} is a negative count; give a count of at least 0 or a fraction in [0, 1].");

    /// <summary>A fraction of the entries or channels to prune; throws unless <paramref name="fraction"/> lies in [0, 1].</summary>
    public static PruningAmount Fraction(double fraction) =>
        fraction is >= 0.0 and <= 1.0
            ? new PruningAmount(false, 0, fraction)
            : throw new ArgumentOutOfRangeException(nameof(fraction), fraction,
                $"amount={fraction} is a fraction outside [0, 1]; give a fraction in [0, 1] or a whole count such as 3.");

    /// <summary>An integer amount is a count.</summary>
    public static implicit operator PruningAmount(int count) => Count(count);

    /// <summary>An integer amount is a count.</summary>
    public static implicit operator PruningAmount(long count) => Count(count);

    /// <summary>A floating-point amount is a fraction.</summary>
    public static implicit operator PruningAmount(double fraction) => Fraction(fraction);

    /// <summary>
    /// The number of the <paramref name="available"/> entries or channels to prune: the count itself, or the fraction times
    /// <paramref name="available"/> rounded half to even as Python's <c>round</c> does. A count larger than
    /// <paramref name="available"/> is refused (a fraction never exceeds it).
    /// </summary>
    /// <param name="available">How many entries or channels the method may prune.</param>
    /// <param name="unit">What is counted, for the message ("entries", "channels along dim 0").</param>
    public long ToPrune(long available, string unit)
    {
        if (!IsCount) return (long)Math.Round(_fraction * available, MidpointRounding.ToEven);
        if (_count > available)
            throw new ArgumentOutOfRangeException("amount", _count,
                $"amount={_count} is larger than the {available} {unit} there are to prune; " +
                $"give a count of at most {available} or a fraction in [0, 1].");
        return _count;
    }

    /// <inheritdoc/>
    public bool Equals(PruningAmount other) =>
        IsCount == other.IsCount && _count == other._count && _fraction.Equals(other._fraction);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is PruningAmount other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(IsCount, _count, _fraction);

    /// <inheritdoc/>
    public override string ToString() => IsCount ? _count.ToString() : _fraction.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
