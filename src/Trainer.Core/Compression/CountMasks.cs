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

    /// <summary>One mask per producer of <paramref name="group"/>, cut from a group mask keeping <paramref name="kept"/> channels.</summary>
    public static IEnumerable<KeyValuePair<string, bool[]>> ForGroup(ModelGraph graph, DependencyGroup group, long kept) =>
        group.ProducerMasks(FirstK(group.Channels, kept, Divisor(graph, group)));

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
