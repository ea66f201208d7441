using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Graph;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// The baseline allocation: one keep ratio for every allocatable group (kept counts rounded up to RoundTo, as
/// <see cref="ChannelRounding"/> does), the largest whose MACs fit the budget, found by bisection.
/// </summary>
public static class UniformAllocator
{
    /// <summary>Allocates one ratio for all groups of <paramref name="model"/> under <paramref name="targetMacsRatio"/> of its MACs.</summary>
    /// <param name="model">The model the graph was built from (counted once, not changed).</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="targetMacsRatio">MACs after over MACs before, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple (default 8).</param>
    /// <param name="table">Optional latency table, for the predicted latency in the result.</param>
    /// <param name="logger">Receives the result.</param>
    /// <exception cref="ArgumentException">A value is out of range, or the target cannot be met even at one channel multiple per group.</exception>
    public static ChannelAllocation Allocate(nn.Module<Tensor, Tensor> model, ModelGraph graph, double targetMacsRatio, int roundTo = 8,
        LatencyTable? table = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        AllocationSearch.CheckArguments(targetMacsRatio, 1, roundTo);
        var groups = AllocatableGroup.Of(graph);
        var macs = MacsModel.Build(model, graph, groups);
        var allocation = Search(groups, macs, targetMacsRatio, roundTo);
        if (table is not null)
            allocation = allocation with { PredictedMs = table.PredictMs(allocation.KeptChannels), FullPredictedMs = table.FullPredictedMs };
        (logger ?? NullLogger.Instance).LogInformation("Channel allocation: {Allocation}", allocation);
        return allocation;
    }

    /// <summary>The bisection itself.</summary>
    internal static ChannelAllocation Search(IReadOnlyList<AllocatableGroup> groups, MacsModel macs, double targetMacsRatio, int roundTo)
    {
        // Floor 1/channels of the smallest group lets every count down to one multiple of roundTo be reached.
        double floor = Math.Min(1, 1.0 / groups.Select(g => g.Channels).DefaultIfEmpty(1).Max());
        var search = new AllocationSearch(groups, macs, floor, roundTo, targetMacsRatio);
        AllocationSearch.State At(double ratio) =>
            search.Of(g => ChannelRounding.RoundKeptCount(g.Channels, Math.Max(1, (int)Math.Round(ratio * g.Channels)), roundTo));

        double lo = 0, hi = 1;
        if (At(hi).Macs <= search.Budget) lo = hi;
        for (int i = 0; i < 50 && hi - lo > 1e-6; i++)
        {
            double mid = (lo + hi) / 2;
            if (At(mid).Macs <= search.Budget) lo = mid;
            else hi = mid;
        }
        return search.Result("uniform", At(lo), null);
    }
}
