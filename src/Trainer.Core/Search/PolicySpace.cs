using TorchSharp.Modules;
using Trainer.Core.Graph;
using Trainer.Core.Latency;
using Trainer.Core.Pruning;
using static TorchSharp.torch;

namespace Trainer.Core.Search;

/// <summary>
/// What a ratio search chooses from: the allocatable groups of a model in execution order, the kept counts each may take
/// (from a floor up, in channel multiples), their exact MACs (<see cref="MacsModel"/>) and the MACs budget. It also holds
/// AMC's resource wall: the most a group may keep so that the groups after it, at their floor, can still meet the budget.
/// </summary>
public sealed class PolicySpace
{
    private readonly IReadOnlyList<int>[] options;
    private readonly long[] floorKept;

    private PolicySpace(IReadOnlyList<AllocatableGroup> groups, IReadOnlyList<GroupShape> shapes, MacsModel macs, long budget,
        double targetMacsRatio, double floor, int roundTo)
    {
        Groups = groups;
        Shapes = shapes;
        Macs = macs;
        Budget = budget;
        TargetMacsRatio = targetMacsRatio;
        Floor = floor;
        RoundTo = roundTo;
        options = groups.Select(g => g.Options(floor, roundTo)).ToArray();
        floorKept = options.Select(o => (long)o[0]).ToArray();
    }

    /// <summary>The allocatable groups, ordered by the execution index of their first producer.</summary>
    public IReadOnlyList<AllocatableGroup> Groups { get; }

    /// <summary>Each group's first producer as AMC describes a layer (type, in channels, stride, kernel).</summary>
    public IReadOnlyList<GroupShape> Shapes { get; }

    /// <summary>The exact MACs of any choice of kept counts.</summary>
    public MacsModel Macs { get; }

    /// <summary>Most Conv/Linear MACs a policy may keep: ⌊target · full MACs⌋.</summary>
    public long Budget { get; }

    /// <summary>MACs after over MACs before that the budget allows.</summary>
    public double TargetMacsRatio { get; }

    /// <summary>Smallest kept fraction of any group (AMC's lbound).</summary>
    public double Floor { get; }

    /// <summary>Channel multiple kept counts are rounded up to.</summary>
    public int RoundTo { get; }

    /// <summary>The MACs of the model as it is.</summary>
    public long FullMacs => Macs.FullMacs;

    /// <summary>Number of groups (steps of an episode).</summary>
    public int Count => Groups.Count;

    /// <summary>
    /// The search space of <paramref name="model"/> under <paramref name="targetMacsRatio"/> of its MACs.
    /// </summary>
    /// <param name="model">The model <paramref name="graph"/> was built from (counted once, not changed).</param>
    /// <param name="graph">Its dependency graph.</param>
    /// <param name="targetMacsRatio">MACs after over MACs before, in (0, 1].</param>
    /// <param name="floor">Smallest kept fraction per group, in (0, 1] (AMC: 0.2).</param>
    /// <param name="roundTo">Channel multiple (1 = any count).</param>
    /// <exception cref="ArgumentException">A value is out of range, the model has no allocatable group, or every group at
    /// its floor still exceeds the budget (the message names the smallest reachable MACs ratio).</exception>
    public static PolicySpace Build(nn.Module<Tensor, Tensor> model, ModelGraph graph, double targetMacsRatio, double floor = 0.2, int roundTo = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(graph);
        AllocationSearch.CheckArguments(targetMacsRatio, floor, roundTo);
        var groups = AllocatableGroup.Of(graph)
            .OrderBy(g => g.Producers.Min(p => graph.Layer(p).Index)).ToList();
        if (groups.Count == 0)
            throw new ArgumentException("the model has no group of channels a search could narrow (no Conv2d/Linear group that is " +
                                        "not the model's output); there is nothing to search", nameof(graph));
        var macs = MacsModel.Build(model, graph, groups);
        // The shared check of the allocators: every group at its floor must fit, else one error naming the reachable minimum.
        var budget = new AllocationSearch(groups, macs, floor, roundTo, targetMacsRatio).Budget;
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        var shapes = groups.Select(g => GroupShape.Of(graph.Layer(g.Producers[0]), modules.GetValueOrDefault(g.Producers[0]))).ToList();
        return new PolicySpace(groups, shapes, macs, budget, targetMacsRatio, floor, roundTo);
    }

    /// <summary>The kept counts group <paramref name="step"/> may take, ascending (floor first, all channels last).</summary>
    public IReadOnlyList<int> Options(int step) => options[step];

    /// <summary>
    /// The kept count a keep ratio asks of group <paramref name="step"/>, as AMC rounds it: round(ratio · channels), at
    /// least 1, rounded up to the channel multiple, then at least the floor.
    /// </summary>
    public int KeptFor(int step, double ratio)
    {
        var group = Groups[step];
        int wanted = (int)Math.Round(Math.Clamp(ratio, 0, 1) * group.Channels, MidpointRounding.ToEven);
        int rounded = ChannelRounding.RoundKeptCount(group.Channels, Math.Max(1, wanted), RoundTo);
        foreach (int option in options[step])
            if (option >= rounded) return option;
        return options[step][^1];
    }

    /// <summary>
    /// The resource wall: the largest kept count of group <paramref name="step"/> such that, with the groups before it at
    /// <paramref name="decided"/> and every group after it at its floor, the MACs stay within the budget. The floor itself
    /// always qualifies when the earlier decisions passed the wall.
    /// </summary>
    /// <param name="decided">Kept counts of groups 0 … step−1.</param>
    /// <param name="step">The group deciding now.</param>
    public int MaxKept(IReadOnlyList<int> decided, int step)
    {
        ArgumentNullException.ThrowIfNull(decided);
        if (decided.Count != step) throw new ArgumentException($"{decided.Count} decisions given for step {step}", nameof(decided));
        var kept = new long[Count];
        for (int i = 0; i < Count; i++) kept[i] = i < step ? decided[i] : floorKept[i];
        var opts = options[step];
        // MACs grow with every kept count, so the options that fit are a prefix: bisect for its end.
        int lo = 0, hi = opts.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            kept[step] = opts[mid];
            if (MacsOf(kept) <= Budget) lo = mid;
            else hi = mid - 1;
        }
        return opts[lo];
    }

    /// <summary>
    /// The budget's lower wall: the smallest kept count of group <paramref name="step"/> such that, with the groups before it at
    /// <paramref name="decided"/> and every group after it at full width, the MACs still reach the budget (the largest count
    /// when none does). Holding every group to it leaves the last group enough MACs to end at the budget.
    /// </summary>
    /// <param name="decided">Kept counts of groups 0 … step−1.</param>
    /// <param name="step">The group deciding now.</param>
    public int MinKept(IReadOnlyList<int> decided, int step)
    {
        ArgumentNullException.ThrowIfNull(decided);
        if (decided.Count != step) throw new ArgumentException($"{decided.Count} decisions given for step {step}", nameof(decided));
        var kept = new long[Count];
        for (int i = 0; i < Count; i++) kept[i] = i < step ? decided[i] : Groups[i].Channels;
        var opts = options[step];
        // The options that reach the budget are a suffix: bisect for its start.
        int lo = 0, hi = opts.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            kept[step] = opts[mid];
            if (MacsOf(kept) >= Budget) hi = mid;
            else lo = mid + 1;
        }
        return opts[lo];
    }

    /// <summary>Exact MACs when group i keeps <paramref name="kept"/>[i] channels (0 is allowed, for what a group touches).</summary>
    public long MacsOf(IReadOnlyList<long> kept)
    {
        var byId = new Dictionary<string, int>(Count);
        for (int i = 0; i < Count; i++) byId[Groups[i].Id] = (int)kept[i];
        return Macs.Macs(byId);
    }

    /// <summary>Exact MACs when group i keeps <paramref name="kept"/>[i] channels.</summary>
    public long MacsOf(IReadOnlyList<int> kept) => MacsOf(kept.Select(k => (long)k).ToArray());

    /// <summary>Group id → kept count.</summary>
    public IReadOnlyDictionary<string, int> ById(IReadOnlyList<int> kept)
    {
        if (kept.Count != Count) throw new ArgumentException($"{kept.Count} kept counts for {Count} groups", nameof(kept));
        return Enumerable.Range(0, Count).ToDictionary(i => Groups[i].Id, i => kept[i]);
    }

    /// <summary>
    /// Kept counts from free keep ratios, brought inside the budget: every ratio is pulled toward the floor by one common
    /// factor s (ratio' = floor + s·(ratio − floor)), the largest s whose MACs fit, found by bisection. At s = 0 every group
    /// is at its floor, which fits, so the result always meets the budget and keeps the ratios' order.
    /// </summary>
    public int[] Repair(IReadOnlyList<double> ratios)
    {
        ArgumentNullException.ThrowIfNull(ratios);
        if (ratios.Count != Count) throw new ArgumentException($"{ratios.Count} ratios for {Count} groups", nameof(ratios));
        int[] At(double s) => Enumerable.Range(0, Count).Select(i => KeptFor(i, Floor + s * (Math.Clamp(ratios[i], Floor, 1) - Floor))).ToArray();
        var full = At(1);
        if (MacsOf(full) <= Budget) return full;
        double lo = 0, hi = 1;
        for (int i = 0; i < 40; i++)
        {
            double mid = (lo + hi) / 2;
            if (MacsOf(At(mid)) <= Budget) lo = mid;
            else hi = mid;
        }
        return At(lo);
    }

    /// <summary>The single keep ratio for all groups (bisection, as the uniform allocator) whose kept counts fit the budget.</summary>
    public int[] Uniform()
    {
        int[] At(double r) => Enumerable.Range(0, Count).Select(i => KeptFor(i, r)).ToArray();
        double lo = 0, hi = 1;
        if (MacsOf(At(1)) <= Budget) return At(1);
        for (int i = 0; i < 50; i++)
        {
            double mid = (lo + hi) / 2;
            if (MacsOf(At(mid)) <= Budget) lo = mid;
            else hi = mid;
        }
        return At(lo);
    }
}

/// <summary>How AMC describes a prunable layer: its kind (0 = conv, 1 = Linear), input channels, stride and kernel size.</summary>
/// <param name="Type">0 for a convolution, 1 for a Linear layer.</param>
/// <param name="InChannels">Input channels (features).</param>
/// <param name="Stride">The convolution's stride (0 for Linear, as AMC).</param>
/// <param name="Kernel">Kernel size (1 for Linear).</param>
public sealed record GroupShape(int Type, long InChannels, long Stride, long Kernel)
{
    internal static GroupShape Of(LayerInfo layer, nn.Module? module) => module switch
    {
        Conv2d c => new GroupShape(0, c.in_channels, c.stride[0], c.kernel_size[0]),
        Linear l => new GroupShape(1, l.in_features, 0, 1),
        _ => new GroupShape(layer.Kind == LayerKind.Linear ? 1 : 0, layer.InChannels ?? layer.InFeatures ?? 0, 1, 1),
    };
}
