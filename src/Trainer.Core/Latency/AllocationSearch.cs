namespace Trainer.Core.Latency;

/// <summary>The search space shared by the allocators: each group's allowed widths, the MACs of a choice, the budget.</summary>
internal sealed class AllocationSearch
{
    private readonly IReadOnlyList<AllocatableGroup> groups;
    private readonly Dictionary<string, IReadOnlyList<int>> options;
    private readonly MacsModel macs;

    /// <summary>Prepares the search and checks that the floor can reach the target.</summary>
    /// <exception cref="ArgumentException">Even every group at its floor exceeds the budget.</exception>
    public AllocationSearch(IReadOnlyList<AllocatableGroup> groups, MacsModel macs, double floor, int roundTo, double targetMacsRatio)
    {
        this.groups = groups;
        this.macs = macs;
        options = groups.ToDictionary(g => g.Id, g => g.Options(floor, roundTo));
        Budget = (long)Math.Floor(targetMacsRatio * macs.FullMacs);
        long lowest = macs.Macs(groups.ToDictionary(g => g.Id, g => options[g.Id][0]));
        if (lowest > Budget)
            throw new ArgumentException(
                $"a MACs ratio of {targetMacsRatio:0.###} cannot be reached with every group kept at {floor:0.###} or more " +
                $"(the smallest reachable ratio is {(double)lowest / macs.FullMacs:0.###}); raise the target or lower the floor");
    }

    /// <summary>Most MACs allowed.</summary>
    public long Budget { get; }

    /// <summary>A choice: option index per group, the kept counts and their MACs.</summary>
    public sealed record State(IReadOnlyDictionary<string, int> Index, IReadOnlyDictionary<string, int> Kept, long Macs);

    /// <summary>Every group at full width.</summary>
    public State Full() => Make(groups.ToDictionary(g => g.Id, g => options[g.Id].Count - 1));

    /// <summary>Every group at its floor: the fewest MACs and, by the table, about the least time.</summary>
    public State Lowest() => Make(groups.ToDictionary(g => g.Id, _ => 0));

    /// <summary>Every group at the width <paramref name="kept"/> gives it.</summary>
    public State Of(Func<AllocatableGroup, int> kept) =>
        Make(groups.ToDictionary(g => g.Id, g => IndexOf(options[g.Id], kept(g))));

    /// <summary><paramref name="state"/> with group <paramref name="id"/> moved by <paramref name="steps"/> widths, or null beyond its range.</summary>
    public State? Moved(State state, string id, int steps)
    {
        int index = state.Index[id] + steps;
        if (index < 0 || index >= options[id].Count) return null;
        var next = new Dictionary<string, int>(state.Index) { [id] = index };
        return Make(next);
    }

    /// <summary>How many steps group <paramref name="id"/> can narrow from full width to its floor.</summary>
    public int Steps(string id) => options[id].Count - 1;

    /// <summary>Every single move of up to <paramref name="maxSteps"/> widths, and every pair of one group wider and another narrower.</summary>
    public IEnumerable<State> Neighbours(State state, int maxSteps)
    {
        foreach (var g in groups)
            for (int s = -maxSteps; s <= maxSteps; s++)
            {
                if (s == 0 || Moved(state, g.Id, s) is not { } moved) continue;
                yield return moved;
                if (s < 0) continue;
                foreach (var h in groups)
                {
                    if (h.Id == g.Id) continue;
                    for (int d = 1; d <= maxSteps; d++)
                    {
                        if (Moved(moved, h.Id, -d) is not { } swapped) break;
                        yield return swapped;
                    }
                }
            }
    }

    /// <summary>The allocation record of <paramref name="state"/>.</summary>
    public ChannelAllocation Result(string method, State state, double? predictedMs) =>
        new(method, state.Kept, groups.ToDictionary(g => g.Id, g => g.Channels), state.Macs, macs.FullMacs, predictedMs, null);

    /// <summary>Throws a clear exception for out-of-range arguments.</summary>
    public static void CheckArguments(double targetMacsRatio, double floor, int roundTo)
    {
        if (!(targetMacsRatio > 0 && targetMacsRatio <= 1))
            throw new ArgumentOutOfRangeException(nameof(targetMacsRatio), targetMacsRatio, "the MACs ratio must be in (0, 1]");
        if (!(floor > 0 && floor <= 1))
            throw new ArgumentOutOfRangeException(nameof(floor), floor, "the floor (smallest kept fraction per group) must be in (0, 1]");
        ArgumentOutOfRangeException.ThrowIfLessThan(roundTo, 1);
    }

    private State Make(Dictionary<string, int> index)
    {
        var kept = index.ToDictionary(p => p.Key, p => options[p.Key][p.Value]);
        return new State(index, kept, macs.Macs(kept));
    }

    private static int IndexOf(IReadOnlyList<int> options, int kept)
    {
        for (int i = 0; i < options.Count; i++)
            if (options[i] >= kept) return i;
        return options.Count - 1;
    }
}
