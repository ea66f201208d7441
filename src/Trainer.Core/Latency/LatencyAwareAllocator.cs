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
public static partial class LatencyAwareAllocator
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
        var allocation = Candidates(model, graph, table, targetMacsRatio, floor, roundTo, count: 1)[0];
        (logger ?? NullLogger.Instance).LogInformation("Channel allocation: {Allocation}", allocation);
        return allocation;
    }

    /// <summary>
    /// Up to <paramref name="count"/> distinct allocations inside the budget window (within <see cref="BudgetWindow"/> of
    /// the full MACs below the budget; below it only when nothing lands in it), fastest predicted first (the first is
    /// what <see cref="Allocate"/> returns): the end points of every start of the search, the best-predicted neighbours
    /// of the winner, and the best allocations in widths of twice and four times <paramref name="roundTo"/>. For <see cref="MeasuredChoice"/>, which times them
    /// and keeps the fastest measured: the table predicts sums of standalone timings and mis-ranks allocations a few
    /// percent apart.
    /// </summary>
    /// <param name="model">The model the graph and table were built from (counted once, not changed).</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table on this machine.</param>
    /// <param name="targetMacsRatio">MACs after over MACs before, in (0, 1].</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1].</param>
    /// <param name="roundTo">Channel multiple.</param>
    /// <param name="count">How many at most (at least 1).</param>
    /// <exception cref="ArgumentException">As <see cref="Allocate"/>.</exception>
    public static IReadOnlyList<ChannelAllocation> Candidates(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table,
        double targetMacsRatio, double floor, int roundTo, int count)
    {
        AllocationSearch.CheckArguments(targetMacsRatio, floor, roundTo);
        var (groups, macs) = Prepare(model, graph, table, count);
        var found = new List<ChannelAllocation>();
        foreach (int grid in Grids(roundTo))
        {
            try
            {
                found.AddRange(Search(groups, macs, table.PredictMs, targetMacsRatio, floor, grid, grid == roundTo ? count : 2));
            }
            catch (ArgumentException) when (grid != roundTo)
            {
                // the coarser grid cannot reach the target above the floor: nothing to add
            }
        }
        // The budget spent (in the window), as in the search itself, fastest predicted first; below the window only when
        // nothing lands in it: fewer MACs would measure faster but cost accuracy.
        long window = (long)Math.Floor(targetMacsRatio * macs.FullMacs) - (long)(BudgetWindow * macs.FullMacs);
        var spent = found.Where(a => a.Macs >= window).ToList();
        return Distinct((spent.Count > 0 ? spent : found).OrderBy(a => a.PredictedMs), count, table);
    }

    /// <summary>The search grids: roundTo, and twice and four times it. oneDNN runs widths in multiples of 16 and 32 faster
    /// than their neighbours, a step the table's interpolation between grid points cannot show but a measurement can.</summary>
    private static int[] Grids(int roundTo) => [roundTo, 2 * roundTo, 4 * roundTo];

    /// <summary>Checks the arguments every entry point shares; the allocatable groups and the MACs model.</summary>
    private static (IReadOnlyList<AllocatableGroup> Groups, MacsModel Macs) Prepare(nn.Module<Tensor, Tensor> model, ModelGraph graph,
        LatencyTable table, int count)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var groups = AllocatableGroup.Of(graph);
        CheckTable(graph, table, groups);
        return (groups, MacsModel.Build(model, graph, groups));
    }

    /// <summary>The first <paramref name="count"/> allocations of <paramref name="ordered"/> with distinct widths.</summary>
    private static List<ChannelAllocation> Distinct(IEnumerable<ChannelAllocation> ordered, int count, LatencyTable table)
    {
        var distinct = new List<ChannelAllocation>();
        foreach (var a in ordered)
            if (distinct.Count < count && distinct.All(d => !d.KeptChannels.All(p => a.KeptChannels[p.Key] == p.Value)))
                distinct.Add(a with { FullPredictedMs = table.FullPredictedMs });
        return distinct;
    }

    /// <summary>
    /// Moves away from <paramref name="from"/> worth timing: for each group, the fastest-predicted single move or swap
    /// (one group wider, another narrower) that narrows it, and the same for widening it, all within the MACs budget
    /// window; fastest predicted first. One per group and direction so that the clock sees every part of the model,
    /// not only where the table already believes time is saved. For <see cref="MeasuredChoice.Refine"/>.
    /// </summary>
    /// <param name="model">The model the graph and table were built from.</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="table">Its latency table.</param>
    /// <param name="from">The allocation to move from (of this model and grid).</param>
    /// <param name="targetMacsRatio">MACs budget, in (0, 1].</param>
    /// <param name="floor">Smallest kept fraction per group.</param>
    /// <param name="roundTo">Channel multiple.</param>
    /// <param name="count">How many at most.</param>
    public static IReadOnlyList<ChannelAllocation> Neighbours(nn.Module<Tensor, Tensor> model, ModelGraph graph, LatencyTable table,
        ChannelAllocation from, double targetMacsRatio, double floor, int roundTo, int count)
    {
        ArgumentNullException.ThrowIfNull(from);
        AllocationSearch.CheckArguments(targetMacsRatio, floor, roundTo);
        var (groups, macs) = Prepare(model, graph, table, count);
        var search = new AllocationSearch(groups, macs, floor, roundTo, targetMacsRatio);
        var start = search.Of(g => from.KeptChannels.TryGetValue(g.Id, out var k) ? k : g.Channels);
        long window = search.Budget - (long)(BudgetWindow * macs.FullMacs);
        var best = new Dictionary<(string, int), (AllocationSearch.State State, double Time)>();
        foreach (var next in search.Neighbours(start, Lookahead))
        {
            if (next.Macs > search.Budget || next.Macs < Math.Min(window, start.Macs)) continue;
            double t = table.PredictMs(next.Kept);
            foreach (var g in groups)
            {
                int change = Math.Sign(next.Index[g.Id] - start.Index[g.Id]);
                if (change == 0) continue;
                if (!best.TryGetValue((g.Id, change), out var known) || t < known.Time) best[(g.Id, change)] = (next, t);
            }
        }
        var distinct = new List<(AllocationSearch.State State, double Time)>();
        foreach (var candidate in best.Values.OrderBy(b => b.Time))
            if (distinct.Count < count && distinct.All(d => !SameWidths(d.State, candidate.State))) distinct.Add(candidate);
        return distinct.Select(d => search.Result("latency-aware", d.State, d.Time) with { FullPredictedMs = table.FullPredictedMs }).ToList();
    }

    private static void CheckTable(ModelGraph graph, LatencyTable table, IReadOnlyList<AllocatableGroup> groups)
    {
        var ids = groups.Select(g => g.Id).ToHashSet();
        var foreign = table.Units.Where(u => graph.FindLayer(u.Producer) is null || (u.OutGroup ?? u.InGroup) is { } g && !ids.Contains(g))
            .Select(u => u.Producer).ToList();
        if (foreign.Count > 0)
            throw new ArgumentException(
                $"the latency table ({table.Key.Model}) does not match this graph: {string.Join(", ", foreign.Take(5))} unknown; " +
                "measure the table on this model (LatencyTable.LoadOrMeasure)", nameof(table));
    }

    /// <summary>The search itself, on any latency predictor (tests use synthetic ones).</summary>
    internal static ChannelAllocation Search(IReadOnlyList<AllocatableGroup> groups, MacsModel macs,
        Func<IReadOnlyDictionary<string, int>, double> predict, double targetMacsRatio, double floor, int roundTo) =>
        Search(groups, macs, predict, targetMacsRatio, floor, roundTo, count: 1)[0];

    /// <summary>The search with up to <paramref name="count"/> distinct results, fastest predicted first.</summary>
    internal static IReadOnlyList<ChannelAllocation> Search(IReadOnlyList<AllocatableGroup> groups, MacsModel macs,
        Func<IReadOnlyDictionary<string, int>, double> predict, double targetMacsRatio, double floor, int roundTo, int count)
    {
        var search = new AllocationSearch(groups, macs, floor, roundTo, targetMacsRatio);
        long window = search.Budget - (long)(BudgetWindow * macs.FullMacs);
        // Starts: the full model, and the full model with one group already at its floor (a group that is slow per MAC
        // is then cut first whatever the greedy order would do). Best: in the window if any is, then fastest.
        var starts = new List<AllocationSearch.State> { search.Full() };
        foreach (var g in groups)
            if (search.Moved(search.Full(), g.Id, -search.Steps(g.Id)) is { } atFloor && atFloor.Macs >= window) starts.Add(atFloor);
        var results = starts.Select(s => Descend(search, groups, predict, s, window))
            .OrderBy(r => r.State.Macs >= window ? 0 : 1).ThenBy(r => r.Time).ToList();
        var best = results[0];
        var chosen = new List<(AllocationSearch.State State, double Time)> { best };
        bool IsNew(AllocationSearch.State s) => chosen.All(c => !SameWidths(c.State, s));
        foreach (var r in results.Skip(1).Where(r => r.State.Macs >= window && r.State.Macs <= search.Budget))
            if (chosen.Count < count && IsNew(r.State)) chosen.Add(r);
        if (chosen.Count < count)
        {
            long low = Math.Min(best.State.Macs, window);
            var near = search.Neighbours(best.State, Lookahead).Where(n => n.Macs <= search.Budget && n.Macs >= low)
                .Select(n => (State: n, Time: predict(n.Kept))).OrderBy(n => n.Time);
            foreach (var n in near)
            {
                if (chosen.Count >= count) break;
                if (IsNew(n.State)) chosen.Add(n);
            }
        }
        return chosen.Take(1).Concat(chosen.Skip(1).OrderBy(c => c.Time)).Select(c => search.Result("latency-aware", c.State, c.Time)).ToList();
    }

    /// <summary>Every move narrowing one group by 1 to <see cref="Lookahead"/> widths that removes MACs, with the MACs it removes.</summary>
    private static IEnumerable<(AllocationSearch.State Next, double Removed)> Narrowings(AllocationSearch search,
        IReadOnlyList<AllocatableGroup> groups, AllocationSearch.State state)
    {
        foreach (var group in groups)
            for (int steps = 1; steps <= Lookahead; steps++)
            {
                if (search.Moved(state, group.Id, -steps) is not { } next) break;
                double removed = state.Macs - next.Macs;
                if (removed > 0) yield return (next, removed);
            }
    }

    private static bool SameWidths(AllocationSearch.State a, AllocationSearch.State b) =>
        a.Kept.All(p => b.Kept.TryGetValue(p.Key, out var k) && k == p.Value);

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
            foreach (var (next, removed) in Narrowings(search, groups, state))
            {
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
