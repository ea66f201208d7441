using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Graph;
using static TorchSharp.torch;

namespace Trainer.Core.Latency;

/// <summary>
/// Chooses how many channels each group keeps so that the model spends its MACs budget where time is cheap:
/// minimum predicted latency (<see cref="LatencyTable"/>) with Conv/Linear MACs at most the budget and at least the
/// budget minus 1% of the full model's MACs (so the budget is spent, not undercut), every group at or above the floor,
/// widths multiples of RoundTo.
/// </summary>
/// <remarks>
/// Why greedy plus local search, not DP: a conv's time depends on two groups at once (its input's and its own) and
/// a residual group reaches many convs, so the interaction graph is not a chain or tree and no exact DP over groups
/// exists; exhaustive search is out of reach (12 groups with 5-33 widths each for ResNet-18). The greedy phase narrows,
/// one move at a time, the group whose next narrowing (up to <see cref="Lookahead"/> steps, which steps over a width the
/// table shows as locally slow) saves the most predicted time per MAC removed; as soon as some move lands in the window
/// it takes the fastest such move and stops (a best-ratio move that overshoots far would waste budget, the knapsack
/// greedy's known flaw); when every move overshoots, groups are widened again one step at a time, least time added per
/// MAC first, while they fit; the local phase then tries every move of one group and every swap (one group wider, another narrower) that keeps the
/// MACs in the window, takes the best that lowers predicted time, and repeats until none does.
/// </remarks>
public static class LatencyAwareAllocator
{
    /// <summary>How many width steps one move may take.</summary>
    public const int Lookahead = 4;

    /// <summary>How far below the budget the MACs may fall, as a fraction of the full model's MACs.</summary>
    public const double BudgetWindow = 0.01;

    /// <summary>Allocates widths for <paramref name="model"/> under <paramref name="targetMacsRatio"/> of its MACs.</summary>
    /// <param name="model">The model the graph and table were built from (counted once, not changed).</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table on this machine.</param>
    /// <param name="targetMacsRatio">MACs after over MACs before, in (0, 1].</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1] (default 0.5).</param>
    /// <param name="roundTo">Channel multiple (default 8).</param>
    /// <param name="logger">Receives the result.</param>
    /// <exception cref="ArgumentException">A value is out of range, the table belongs to another model, or the target is
    /// below what the floor allows (the message gives the smallest reachable ratio).</exception>
    public static ChannelAllocation Allocate(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table, double targetMacsRatio,
        double floor = 0.5, int roundTo = 8, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(table);
        AllocationSearch.CheckArguments(targetMacsRatio, floor, roundTo);
        var groups = AllocatableGroup.Of(graph);
        var ids = groups.Select(g => g.Id).ToHashSet();
        var foreign = table.Units.Where(u => graph.FindLayer(u.Producer) is null || (u.OutGroup ?? u.InGroup) is { } g && !ids.Contains(g))
            .Select(u => u.Producer).ToList();
        if (foreign.Count > 0)
            throw new ArgumentException(
                $"the latency table ({table.Key.Model}) does not match this graph: {string.Join(", ", foreign.Take(5))} unknown; " +
                "measure the table on this model (LatencyTable.LoadOrMeasure)", nameof(table));
        var macs = MacsModel.Build(model, graph, groups);
        var allocation = Search(groups, macs, table.PredictMs, targetMacsRatio, floor, roundTo) with { FullPredictedMs = table.FullPredictedMs };
        (logger ?? NullLogger.Instance).LogInformation("Channel allocation: {Allocation}", allocation);
        return allocation;
    }

    /// <summary>The search itself, on any latency predictor (tests use synthetic ones).</summary>
    internal static ChannelAllocation Search(IReadOnlyList<AllocatableGroup> groups, MacsModel macs,
        Func<IReadOnlyDictionary<string, int>, double> predict, double targetMacsRatio, double floor, int roundTo)
    {
        var search = new AllocationSearch(groups, macs, floor, roundTo, targetMacsRatio);
        long window = search.Budget - (long)(BudgetWindow * macs.FullMacs);
        // Starts: the full model, and the full model with one group already at its floor (a group that is slow per MAC
        // is then cut first whatever the greedy order would do). Best: in the window if any is, then fastest.
        var starts = new List<AllocationSearch.State> { search.Full() };
        foreach (var g in groups)
            if (search.Moved(search.Full(), g.Id, -search.Steps(g.Id)) is { } atFloor && atFloor.Macs >= window) starts.Add(atFloor);
        var results = starts.Select(s => Descend(search, groups, predict, s, window)).ToList();
        var best = results.OrderBy(r => r.State.Macs >= window ? 0 : 1).ThenBy(r => r.Time).First();
        return search.Result("latency-aware", best.State, best.Time);
    }

    /// <summary>Greedy narrowing from <paramref name="state"/> into the budget, then local moves and swaps.</summary>
    private static (AllocationSearch.State State, double Time) Descend(AllocationSearch search, IReadOnlyList<AllocatableGroup> groups,
        Func<IReadOnlyDictionary<string, int>, double> predict, AllocationSearch.State state, long window)
    {
        double time = predict(state.Kept);
        while (state.Macs > search.Budget)
        {
            // Moves that land in the window end the phase (the fastest one wins); otherwise the best time saved per MAC
            // among moves that stay above the budget, and only when every move overshoots, the best overshooting one.
            (AllocationSearch.State State, double Time)? landing = null;
            (AllocationSearch.State State, double Time, double Score)? above = null, overshoot = null;
            foreach (var group in groups)
                for (int steps = 1; steps <= Lookahead; steps++)
                {
                    if (search.Moved(state, group.Id, -steps) is not { } next) break;
                    double removed = state.Macs - next.Macs;
                    if (removed <= 0) continue;
                    double t = predict(next.Kept);
                    double score = (time - t) / removed;
                    if (next.Macs > search.Budget) { if (above is null || score > above.Value.Score) above = (next, t, score); }
                    else if (next.Macs >= window) { if (landing is null || t < landing.Value.Time) landing = (next, t); }
                    else if (overshoot is null || score > overshoot.Value.Score) overshoot = (next, t, score);
                }
            if (landing is { } land) (state, time) = land;
            else if (above is { } a) (state, time) = (a.State, a.Time);
            else if (overshoot is { } o) (state, time) = (o.State, o.Time);
            else break; // every group at its floor: AllocationSearch made sure the budget is met before this
        }

        // When every last move overshot (coarse groups of a small model): widen again, least time per MAC first, up to the window.
        while (state.Macs < window)
        {
            (AllocationSearch.State State, double Time, double Score)? best = null;
            foreach (var group in groups)
            {
                if (search.Moved(state, group.Id, 1) is not { } next || next.Macs > search.Budget || next.Macs <= state.Macs) continue;
                double t = predict(next.Kept);
                double score = (t - time) / (next.Macs - state.Macs);
                if (best is null || score < best.Value.Score) best = (next, t, score);
            }
            if (best is null) break;
            (state, time) = (best.Value.State, best.Value.Time);
        }

        long low = Math.Min(state.Macs, window);
        for (int pass = 0; pass < 1000; pass++)
        {
            (AllocationSearch.State State, double Time)? best = null;
            foreach (var next in search.Neighbours(state, Lookahead))
            {
                if (next.Macs > search.Budget || next.Macs < low) continue;
                double t = predict(next.Kept);
                if (t < (best?.Time ?? time) - 1e-9) best = (next, t);
            }
            if (best is null) break;
            (state, time) = best.Value;
        }
        return (state, time);
    }
}
