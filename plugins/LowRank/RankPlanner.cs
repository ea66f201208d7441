namespace Plugins.LowRank;

/// <summary>The rank chosen for one layer, or why it is left alone.</summary>
/// <param name="Layer">The layer.</param>
/// <param name="Rank">Rank to factorize at; null when the layer is skipped.</param>
/// <param name="Explicit">True when the rank came from the "ranks" setting.</param>
/// <param name="SkipReason">Why the layer is skipped (null when it is factorized).</param>
public sealed record RankChoice(FactorizableLayer Layer, int? Rank, bool Explicit, string? SkipReason)
{
    /// <summary>MACs of the layer after the plan (its current MACs when skipped).</summary>
    public long MacsAfter => Rank is { } r ? Layer.MacsAt(r) : Layer.Macs;
}

/// <summary>The ranks for all selected layers and the MAC ratio they reach.</summary>
/// <param name="Choices">One choice per selected layer, in model order.</param>
/// <param name="MacsBefore">MACs the target applies to, now: the selected layers' (plus the fixed MACs, if any).</param>
/// <param name="MacsAfter">The same MACs after the plan.</param>
/// <param name="TargetMet">False when even rank 1 everywhere cannot reach the target.</param>
public sealed record RankPlan(IReadOnlyList<RankChoice> Choices, long MacsBefore, long MacsAfter, bool TargetMet)
{
    /// <summary>MACs after over MACs before.</summary>
    public double Ratio => MacsBefore == 0 ? 1 : (double)MacsAfter / MacsBefore;
}

/// <summary>
/// Chooses ranks so the selected layers' MACs after factorization are at most the target fraction of their MACs now.
/// Uniform: one MAC-keep fraction f shared by every layer whose rank is not given, found by bisection (rank_l =
/// floor(f·Cin·k²·Cout / (Cin·k² + Cout)), at least 1). By energy (Zhang et al. 2016, §4.1): maximise the product over
/// layers of the kept fraction of each weight's spectral energy (sum of the kept squared singular values over all of
/// them) under the MACs budget, greedily: from each layer's largest saving rank, lower the rank that loses the least
/// log-energy per MAC saved until the budget is met. A layer no rank makes cheaper is skipped, and the others are cut
/// deeper to make up for it.
/// </summary>
public static class RankPlanner
{
    private const int BisectionSteps = 60;

    /// <summary>Plans ranks for <paramref name="layers"/>; <paramref name="explicitRanks"/> (already checked against the
    /// layers' full ranks) are taken as given. A target of 1 asks for no reduction: only explicit ranks are applied.</summary>
    /// <param name="layers">The selected layers.</param>
    /// <param name="explicitRanks">Ranks given by configuration.</param>
    /// <param name="targetRatio">Fraction of the MACs to keep, in (0, 1].</param>
    /// <param name="fixedMacs">MACs outside the selected layers that the target also covers (the rest of the model when
    /// the target is the whole model's); they stay as they are, so the selected layers make up for them.</param>
    /// <param name="energies">Per layer name, the squared singular values of its weight (Cout × Cin·k·k), descending: ranks
    /// by energy for the layers listed; null (or a layer missing) for the uniform fraction.</param>
    public static RankPlan Plan(IReadOnlyList<FactorizableLayer> layers, IReadOnlyDictionary<string, int> explicitRanks,
        double targetRatio, long fixedMacs = 0, IReadOnlyDictionary<string, double[]>? energies = null)
    {
        var choices = new RankChoice[layers.Count];
        var free = new List<int>();
        for (var i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            if (explicitRanks.TryGetValue(layer.Name, out var rank)) choices[i] = new RankChoice(layer, rank, true, null);
            else if (!layer.SavesAt(1))
                choices[i] = new RankChoice(layer, null, false,
                    $"skipped: no rank saves MACs (rank 1 costs {layer.Columns + layer.Rows} per position, the layer {(long)layer.Columns * layer.Rows})");
            else if (targetRatio >= 1)
                choices[i] = new RankChoice(layer, null, false, "skipped: the FLOPs target is 1 (no reduction asked)");
            else free.Add(i);
        }

        long before = layers.Sum(l => l.Macs) + fixedMacs;
        long budget = (long)Math.Floor(targetRatio * before) - fixedMacs - choices.Where(c => c is not null).Sum(c => c.MacsAfter);
        if (energies is not null && free.Count > 0 && free.All(i => energies.ContainsKey(layers[i].Name)))
        {
            var ranks = ByEnergy(free.Select(i => layers[i]).ToList(), energies, budget);
            for (var k = 0; k < free.Count; k++) choices[free[k]] = new RankChoice(layers[free[k]], ranks[k], false, null);
            var afterEnergy = choices.Sum(c => c.MacsAfter) + fixedMacs;
            return new RankPlan(choices, before, afterEnergy, afterEnergy <= targetRatio * before);
        }
        long CostAt(double f) => free.Sum(i => layers[i].MacsAt(layers[i].RankFor(f)));

        // The cost only grows with f: find the largest f whose cost fits the budget.
        double lo = 0, hi = 1;
        var met = CostAt(lo) <= budget;
        if (met && CostAt(hi) <= budget) lo = hi;
        else if (met)
            for (var step = 0; step < BisectionSteps; step++)
            {
                var mid = (lo + hi) / 2;
                if (CostAt(mid) <= budget) lo = mid; else hi = mid;
            }
        foreach (var i in free)
            choices[i] = new RankChoice(layers[i], layers[i].RankFor(lo), false, null);

        var after = choices.Sum(c => c.MacsAfter) + fixedMacs;
        return new RankPlan(choices, before, after, after <= targetRatio * before);
    }

    /// <summary>The greedy energy allocation: ranks for <paramref name="layers"/> within <paramref name="budget"/> MACs
    /// (each at least 1, so the budget may stay unmet).</summary>
    private static int[] ByEnergy(IReadOnlyList<FactorizableLayer> layers, IReadOnlyDictionary<string, double[]> energies, long budget)
    {
        // Kept energy fraction E_l(r) = cumulative[r] / total; the objective is the sum of log E_l(r_l).
        var cumulative = layers.Select(l =>
        {
            var e = energies[l.Name];
            var sums = new double[e.Length + 1];
            for (var a = 0; a < e.Length; a++) sums[a + 1] = sums[a] + Math.Max(0, e[a]);
            return sums;
        }).ToArray();
        var ranks = layers.Select((l, k) => Math.Min(Math.Max(1, l.MaxSavingRank), cumulative[k].Length - 1)).ToArray();
        long cost = layers.Select((l, k) => l.MacsAt(ranks[k])).Sum();
        double LogKept(int k, int r) => cumulative[k][^1] > 0 ? Math.Log(Math.Max(cumulative[k][r], double.Epsilon) / cumulative[k][^1]) : 0;
        while (cost > budget)
        {
            int best = -1;
            double bestLoss = double.PositiveInfinity;
            for (var k = 0; k < layers.Count; k++)
            {
                if (ranks[k] <= 1) continue;
                double loss = (LogKept(k, ranks[k]) - LogKept(k, ranks[k] - 1)) / (layers[k].Positions * ((double)layers[k].Columns + layers[k].Rows));
                if (loss < bestLoss) (best, bestLoss) = (k, loss);
            }
            if (best < 0) break;
            cost -= layers[best].MacsAt(ranks[best]) - layers[best].MacsAt(ranks[best] - 1);
            ranks[best]--;
        }
        return ranks;
    }
}
