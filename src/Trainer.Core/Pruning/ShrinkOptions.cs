namespace Trainer.Core.Pruning;

/// <summary>Options of <see cref="ChannelShrinker.Shrink"/>.</summary>
public sealed record ShrinkOptions
{
    /// <summary>
    /// The channel multiple compressors should keep (see <see cref="ChannelRounding.RoundKeptCount"/>). The shrinker takes
    /// exact masks and does not round; it lists layers whose kept count is not a multiple in <see cref="ShrinkReport.NotRounded"/>.
    /// </summary>
    public int RoundTo { get; init; } = 8;

    /// <summary>
    /// Allows shrinking a producer whose output is the model's output (e.g. the last Linear), which changes the
    /// model's output shape. Off by default: such a mask is refused.
    /// </summary>
    public bool AllowOutputLayer { get; init; }
}
