using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

public static partial class LatencyAwareAllocator
{
    /// <summary>
    /// Allocations under a latency budget instead of a MACs one: the most MACs (capacity kept) the table predicts at or
    /// under <paramref name="targetLatencyRatio"/> of the model's predicted time, most MACs first. The same search turned
    /// around: narrow where time is saved cheapest per MAC until the budget is met, widen where MACs come cheapest in
    /// time while it still is, then single moves and swaps that add MACs within it; also in widths of twice and four
    /// times <paramref name="roundTo"/>.
    /// </summary>
    /// <param name="model">The model the graph and table were built from.</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table on this machine.</param>
    /// <param name="targetLatencyRatio">Predicted latency after over before, in (0, 1].</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple.</param>
    /// <param name="count">How many at most (at least 1).</param>
    /// <exception cref="ArgumentException">Bad values, a table of another model, or a latency ratio the floor cannot reach
    /// (the message gives the table's best).</exception>
    public static IReadOnlyList<ChannelAllocation> CandidatesForLatency(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table,
        double targetLatencyRatio, double floor, int roundTo, int count)
    {
        if (!(targetLatencyRatio > 0 && targetLatencyRatio <= 1))
            throw new ArgumentOutOfRangeException(nameof(targetLatencyRatio), targetLatencyRatio, "the latency ratio must be in (0, 1]");
        AllocationSearch.CheckArguments(1, floor, roundTo);
        var (groups, macs) = Prepare(model, graph, table, count);
        double budgetMs = targetLatencyRatio * table.FullPredictedMs;
        var found = new List<ChannelAllocation>();
        foreach (int grid in Grids(roundTo))
        {
            var search = new AllocationSearch(groups, macs, floor, grid, 1);
            var starts = new List<AllocationSearch.State> { search.Full() };
            starts.AddRange(groups.Select(g => search.Moved(search.Full(), g.Id, -search.Steps(g.Id))).OfType<AllocationSearch.State>());
            foreach (var (state, time) in starts.Select(s => DescendToLatency(search, groups, table.PredictMs, s, budgetMs)))
                if (time <= budgetMs) found.Add(search.Result("latency-aware", state, time));
        }
        if (found.Count == 0)
        {
            double best = table.PredictMs(new AllocationSearch(groups, macs, floor, roundTo, 1).Lowest().Kept);
            throw new ArgumentException(
                $"a latency ratio of {targetLatencyRatio:0.###} cannot be reached with every group kept at {floor:0.###} or more " +
                $"(the latency table predicts {best / table.FullPredictedMs:0.###} at best); raise the target or lower the floor");
        }
        return Distinct(found.OrderByDescending(a => a.Macs).ThenBy(a => a.PredictedMs), count, table);
    }

    /// <summary>
    /// The smallest latency ratio <see cref="CandidatesForLatency"/> can reach: the table's prediction for every group at
    /// its floor, over its prediction for the model as it is.
    /// </summary>
    /// <param name="model">The model the graph and table were built from.</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table.</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple.</param>
    public static double LowestLatencyRatio(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table, double floor, int roundTo) =>
        AtFloor(model, graph, table, floor, roundTo).PredictedMs!.Value / table.FullPredictedMs;

    /// <summary>
    /// Every group at its floor: the allocation for a latency budget the floor cannot reach. Taken as it is rather than searched
    /// for, so that a noisy table (one predicting the floor no faster than the model as it is) still cuts every layer it may.
    /// </summary>
    /// <param name="model">The model the graph and table were built from.</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table.</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple.</param>
    public static ChannelAllocation AtFloor(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table, double floor, int roundTo)
    {
        AllocationSearch.CheckArguments(1, floor, roundTo);
        var (groups, macs) = Prepare(model, graph, table, 1);
        var search = new AllocationSearch(groups, macs, floor, roundTo, 1);
        var lowest = search.Lowest();
        return search.Result("latency-aware", lowest, table.PredictMs(lowest.Kept)) with { FullPredictedMs = table.FullPredictedMs };
    }

    /// <summary>From <paramref name="state"/>: narrow into the latency budget, widen within it, then moves that add MACs.</summary>
    private static (AllocationSearch.State State, double Time) DescendToLatency(AllocationSearch search, IReadOnlyList<AllocatableGroup> groups,
        Func<IReadOnlyDictionary<string, int>, double> predict, AllocationSearch.State state, double budgetMs)
    {
        double time = predict(state.Kept);
        while (time > budgetMs)
        {
            // A move that meets the budget ends the phase (the one keeping the most MACs); else the most time saved per MAC.
            (AllocationSearch.State State, double Time)? landing = null;
            (AllocationSearch.State State, double Time, double Score)? cheapest = null;
            foreach (var (next, removed) in Narrowings(search, groups, state))
            {
                double t = predict(next.Kept);
                if (t <= budgetMs) { if (landing is null || next.Macs > landing.Value.State.Macs) landing = (next, t); }
                else if ((time - t) / removed is var score && (cheapest is null || score > cheapest.Value.Score)) cheapest = (next, t, score);
            }
            if (landing is { } land) (state, time) = land;
            else if (cheapest is { } c) (state, time) = (c.State, c.Time);
            else break; // every group at its floor
        }
        if (time > budgetMs) return (state, time);

        for (int pass = 0; pass < 1000; pass++)
        {
            (AllocationSearch.State State, double Time)? best = null;
            foreach (var next in search.Neighbours(state, Lookahead))
            {
                if (next.Macs <= (best?.State.Macs ?? state.Macs)) continue;
                double t = predict(next.Kept);
                if (t <= budgetMs) best = (next, t);
            }
            if (best is null) break;
            (state, time) = best.Value;
        }
        return (state, time);
    }
}
