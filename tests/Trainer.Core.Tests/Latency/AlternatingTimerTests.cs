using Trainer.Core.Latency;

namespace Trainer.Core.Tests.Latency;

public sealed class AlternatingTimerTests
{
    [Fact]
    public void QuantilesInterpolateBetweenOrderStatistics()
    {
        double[] values = [5, 1, 4, 2, 3];
        Assert.Equal(3, AlternatingTimer.Median(values));
        Assert.Equal(2.5, AlternatingTimer.Median([4, 1, 3, 2]));
        Assert.Equal(1, AlternatingTimer.Quantile(values, 0));
        Assert.Equal(5, AlternatingTimer.Quantile(values, 1));
        Assert.Equal(1.8, AlternatingTimer.Quantile(values, 0.2), 12);
        Assert.Throws<ArgumentException>(() => AlternatingTimer.Median([]));
    }

    [Fact]
    public void EveryActionRunsWarmupPlusRoundsTimesCallsInAlternation()
    {
        var order = new List<int>();
        var ms = AlternatingTimer.QuantileMs([() => order.Add(0), () => order.Add(1)], rounds: 3, quantile: 0.5, warmupRounds: 1, callsPerRound: 2);

        Assert.Equal(2, ms.Length);
        Assert.All(ms, m => Assert.True(m >= 0));
        Assert.Equal([0, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1], order);
        Assert.Throws<ArgumentOutOfRangeException>(() => AlternatingTimer.QuantileMs([() => { }], 1, 1.5));
    }
}
