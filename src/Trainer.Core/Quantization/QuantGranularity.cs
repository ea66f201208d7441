namespace Trainer.Core.Quantization;

/// <summary>One scale/zero point for the whole tensor, or one per slice along <see cref="Axis"/>.</summary>
/// <param name="PerChannel">True for one scale per channel.</param>
/// <param name="Axis">The channel axis (0 for weights, whose output channels come first); ignored per tensor.</param>
public readonly record struct QuantGranularity(bool PerChannel, int Axis)
{
    /// <summary>One scale and zero point for the whole tensor.</summary>
    public static QuantGranularity PerTensor => new(false, 0);

    /// <summary>One scale and zero point per slice along <paramref name="axis"/>.</summary>
    public static QuantGranularity PerChannelAlong(int axis = 0)
    {
        if (axis < 0) throw new ArgumentOutOfRangeException(nameof(axis), axis, $"The channel axis must be 0 or more; got {axis}.");
        return new(true, axis);
    }

    /// <inheritdoc/>
    public override string ToString() => PerChannel ? $"per-channel(axis {Axis})" : "per-tensor";
}
