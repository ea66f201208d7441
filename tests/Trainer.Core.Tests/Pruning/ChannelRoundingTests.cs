using Trainer.Core.Pruning;

namespace Trainer.Core.Tests.Pruning;

/// <summary>Kept channel counts rounded up to multiples, never above the original, never 0.</summary>
public sealed class ChannelRoundingTests
{
    [Theory]
    [InlineData(64, 30, 8, 32)]
    [InlineData(64, 32, 8, 32)]
    [InlineData(64, 33, 8, 40)]
    [InlineData(36, 35, 8, 36)]
    [InlineData(64, 0, 8, 8)]
    [InlineData(64, -5, 8, 8)]
    [InlineData(4, 1, 8, 4)]
    [InlineData(64, 100, 8, 64)]
    [InlineData(10, 3, 1, 3)]
    public void Rounds_up_within_the_original(int original, int wanted, int roundTo, int expected) =>
        Assert.Equal(expected, ChannelRounding.RoundKeptCount(original, wanted, roundTo));

    [Fact]
    public void Invalid_arguments_throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelRounding.RoundKeptCount(0, 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChannelRounding.RoundKeptCount(8, 1, 0));
    }

    [Fact]
    public void Default_round_to_is_8() => Assert.Equal(8, new ShrinkOptions().RoundTo);
}
