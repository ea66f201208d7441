using System.Numerics;
using Trainer.Core.Graph;

namespace Trainer.Core.Compression;

/// <summary>
/// Keep-masks from kept channel counts, for when only the shapes matter (estimating MACs, replaying an edit list):
/// the first k channels, or, when a grouped conv or GroupNorm needs the count spread evenly over d slices, the first
/// k/d channels of each slice (a first-k mask would leave some groups empty and be refused).
/// </summary>
internal static class CountMasks
{
    /// <summary>The divisor the group's kept count must be a multiple of (1 when nothing constrains it).</summary>
    public static long Divisor(ModelGraph graph, DependencyGroup group) =>
        group.Producers.Concat(group.Followers).Select(graph.GroupDependency.DivisorOf)
            .Aggregate(1L, (a, b) => a / (long)BigInteger.GreatestCommonDivisor(a, b) * b);

    /// <summary>A mask of <paramref name="channels"/> entries keeping <paramref name="kept"/>, spread over <paramref name="divisor"/> slices.</summary>
    /// <remarks>When <paramref name="kept"/> is not a multiple of the divisor, the first-k mask is returned and the shrinker's
    /// validation reports the divisor with the layers that need it.</remarks>
    public static bool[] FirstK(long channels, long kept, long divisor)
    {
        var mask = new bool[channels];
        if (divisor > 1 && channels % divisor == 0 && kept % divisor == 0)
        {
            long slice = channels / divisor, perSlice = kept / divisor;
            for (long s = 0; s < divisor; s++)
                for (long c = 0; c < perSlice; c++) mask[s * slice + c] = true;
        }
        else
        {
            for (long c = 0; c < Math.Min(kept, channels); c++) mask[c] = true;
        }
        return mask;
    }

    /// <summary>One mask per producer of <paramref name="group"/>, cut from a group mask keeping <paramref name="kept"/> channels
    /// (for a sliced group, spread over its segments: <see cref="Spread"/>).</summary>
    public static IEnumerable<KeyValuePair<string, bool[]>> ForGroup(ModelGraph graph, DependencyGroup group, long kept) =>
        group.ProducerMasks(group.IsSliced ? Spread(Segments(group), group.Channels, kept) : FirstK(group.Channels, kept, Divisor(graph, group)));

    /// <summary>The pieces the producers' slice boundaries cut a group's axis into, in order (as ChannelGroupInfo.Segments).</summary>
    public static IReadOnlyList<ChannelSlice> Segments(DependencyGroup group)
    {
        var cuts = new SortedSet<long> { 0, group.Channels };
        foreach (var s in group.Producers.Select(group.SliceOf))
        {
            cuts.Add(s.Offset);
            cuts.Add(s.Offset + s.Count);
        }
        var list = cuts.ToList();
        return list.Zip(list.Skip(1), (a, b) => new ChannelSlice(a, b - a)).ToList();
    }

    /// <summary>
    /// A mask keeping <paramref name="kept"/> channels spread over <paramref name="segments"/> in proportion to their
    /// widths, at least one in each (a producer that lost its whole slice would be refused), the first ones of each
    /// segment; when <paramref name="kept"/> is below the segment count, one per segment.
    /// </summary>
    public static bool[] Spread(IReadOnlyList<ChannelSlice> segments, long channels, long kept)
    {
        var quota = segments.Select(s => Math.Clamp(kept * s.Count / channels, 1, s.Count)).ToArray();
        // Largest shortfall (or excess) first, ties to the earlier segment: the sum meets kept exactly when kept >= segments.
        double Share(int i) => (double)kept * segments[i].Count / channels;
        while (quota.Sum() < kept)
        {
            var open = Enumerable.Range(0, quota.Length).Where(i => quota[i] < segments[i].Count).ToList();
            if (open.Count == 0) break;
            quota[open.OrderByDescending(i => Share(i) - quota[i]).ThenBy(i => i).First()]++;
        }
        while (quota.Sum() > kept)
        {
            var open = Enumerable.Range(0, quota.Length).Where(i => quota[i] > 1).ToList();
            if (open.Count == 0) break;
            quota[open.OrderByDescending(i => quota[i] - Share(i)).ThenBy(i => i).First()]--;
        }
        var mask = new bool[channels];
        for (int i = 0; i < segments.Count; i++)
            for (long c = 0; c < quota[i]; c++) mask[segments[i].Offset + c] = true;
        return mask;
    }

    /// <summary>
    /// The group mask that gives each producer its recorded kept count: producers are taken from the narrowest slice to the
    /// widest, each keeping the first undecided channels of its slice until its count is reached (so the inputs of a
    /// concatenation decide their slices and the full-width producer must agree). Without slices, <see cref="FirstK"/>.
    /// </summary>
    /// <returns>The mask, or null with the reason when the counts contradict each other.</returns>
    public static bool[]? FromProducerCounts(ModelGraph graph, DependencyGroup group, IReadOnlyDictionary<string, int> kept, out string? why)
    {
        why = null;
        if (!group.IsSliced)
        {
            var counts = group.Producers.Where(kept.ContainsKey).Select(p => kept[p]).Distinct().ToList();
            if (counts.Count > 1) { why = $"coupled producers record different counts ({string.Join(", ", counts)})"; return null; }
            return FirstK(group.Channels, counts.Count == 0 ? group.Channels : counts[0], Divisor(graph, group));
        }
        var mask = new bool?[group.Channels];
        foreach (var p in group.Producers.OrderBy(p => group.SliceOf(p).Count))
        {
            var slice = group.SliceOf(p);
            long want = kept.TryGetValue(p, out var k) ? k : slice.Count;
            long have = 0;
            for (long c = slice.Offset; c < slice.Offset + slice.Count; c++) have += mask[c] == true ? 1 : 0;
            for (long c = slice.Offset; c < slice.Offset + slice.Count; c++)
                if (mask[c] is null) { mask[c] = have < want; have += have < want ? 1 : 0; }
            if (have != want) { why = $"'{p}' records {want} kept channels, but its slice already keeps {have}"; return null; }
        }
        return mask.Select(m => m ?? true).ToArray();
    }
}
