namespace Trainer.Core.Search;

/// <summary>
/// AMC's channel-pruning environment (He et al. 2018, <c>env/channel_pruning_env.py</c>) on a <see cref="PolicySpace"/>: one
/// step per group in execution order; an action is the group's keep ratio, clipped by the resource wall so every episode
/// ends within the MACs budget, and (by default) from below too, so that every episode ends at the budget: the last group
/// keeps what the budget leaves it. The state has AMC's ten features, each in [0, 1]: index, type, input channels, output
/// channels, stride, kernel, MACs the group's width scales (the static seven min-max normalised over the groups, as AMC),
/// MACs removed by the decisions so far, MACs the later groups still scale (both over the full MACs), and the previous
/// kept ratio.
/// </summary>
/// <remarks>AMC's code clips actions from above only, so its episodes can end well under the budget (and a policy that
/// spends less can win on an unfinetuned score while it trains worse); the lower wall makes every episode spend the budget,
/// as the resource-constrained setting intends. <c>exactBudget: false</c> gives AMC's one-sided wall.
/// AMC's code puts the weight size where its paper puts FLOPs; this follows the paper. "Removed so far" counts the
/// groups not yet decided at full width (AMC's code counts them at its lbound).</remarks>
public sealed class PruningEnvironment
{
    /// <summary>Number of state features.</summary>
    public const int StateSize = 10;

    private readonly PolicySpace space;
    private readonly float[][] staticFeatures;
    private readonly List<int> kept = [];
    private readonly bool exactBudget;
    private double previousRatio = 1;

    /// <summary>An environment over <paramref name="space"/>.</summary>
    /// <param name="space">The groups, their options and the budget.</param>
    /// <param name="exactBudget">Clip actions from below too, so every episode ends at the budget (up to the last group's
    /// channel step); false: from above only, as AMC's code.</param>
    public PruningEnvironment(PolicySpace space, bool exactBudget = true)
    {
        this.space = space ?? throw new ArgumentNullException(nameof(space));
        this.exactBudget = exactBudget;
        staticFeatures = StaticFeatures(space);
    }

    /// <summary>The space the episodes run in.</summary>
    public PolicySpace Space => space;

    /// <summary>Kept counts decided so far in this episode.</summary>
    public IReadOnlyList<int> Kept => kept;

    /// <summary>The index of the group that decides next.</summary>
    public int Step => kept.Count;

    /// <summary>Starts an episode and returns the first group's state.</summary>
    public float[] Reset()
    {
        kept.Clear();
        previousRatio = 1;
        return State();
    }

    /// <summary>
    /// Decides the current group: <paramref name="action"/> (a keep ratio, clipped to [0, 1]) becomes a kept count, at least
    /// the floor (with the exact budget: the lower wall; the last group: the most the budget allows) and at most the wall allows. Returns the next state (the last state again when the episode is done).
    /// </summary>
    /// <exception cref="InvalidOperationException">The episode is over; call <see cref="Reset"/>.</exception>
    public (float[] Next, bool Done, int Kept) Act(double action)
    {
        if (kept.Count >= space.Count) throw new InvalidOperationException("the episode is over; call Reset before the next action");
        if (!double.IsFinite(action)) throw new ArgumentException($"action {action} is not a number", nameof(action));
        int step = kept.Count;
        int wanted = space.KeptFor(step, action);
        int upper = space.MaxKept(kept, step);
        int lower = !exactBudget ? 0 : step == space.Count - 1 ? upper : Math.Min(space.MinKept(kept, step), upper);
        int chosen = Math.Clamp(wanted, lower, upper);
        kept.Add(chosen);
        previousRatio = (double)chosen / space.Groups[step].Channels;
        bool done = kept.Count == space.Count;
        return (done ? StateAt(step) : State(), done, chosen);
    }

    private float[] State() => StateAt(kept.Count);

    private float[] StateAt(int step)
    {
        var state = new float[StateSize];
        Array.Copy(staticFeatures[step], state, 7);
        var now = new long[space.Count];
        var laterZero = new long[space.Count];
        for (int i = 0; i < space.Count; i++)
        {
            now[i] = i < kept.Count ? kept[i] : space.Groups[i].Channels;
            laterZero[i] = i <= step ? now[i] : 0;
        }
        double full = Math.Max(1, space.FullMacs);
        long macsNow = space.MacsOf(now);
        state[7] = (float)((space.FullMacs - macsNow) / full);
        state[8] = (float)((macsNow - space.MacsOf(laterZero)) / full);
        state[9] = (float)previousRatio;
        return state;
    }

    private static float[][] StaticFeatures(PolicySpace space)
    {
        int n = space.Count;
        var raw = new double[n][];
        for (int i = 0; i < n; i++)
        {
            var shape = space.Shapes[i];
            var alone = space.Groups.Select((g, j) => (long)(j == i ? 0 : g.Channels)).ToArray();
            long touched = space.FullMacs - space.MacsOf(alone);
            raw[i] = [i, shape.Type, shape.InChannels, space.Groups[i].Channels, shape.Stride, shape.Kernel, touched];
        }
        var result = new float[n][];
        for (int i = 0; i < n; i++) result[i] = new float[7];
        for (int f = 0; f < 7; f++)
        {
            double min = raw.Min(r => r[f]), max = raw.Max(r => r[f]);
            // As AMC: a feature equal for all groups stays as it is (AMC keeps the raw value; clamped here to stay in [0, 1]).
            for (int i = 0; i < n; i++)
                result[i][f] = (float)(max > min ? (raw[i][f] - min) / (max - min) : Math.Clamp(raw[i][f], 0, 1));
        }
        return result;
    }
}
