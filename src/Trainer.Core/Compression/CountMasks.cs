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

    /// <summary>One mask per producer of <paramref name="group"/>, all keeping <paramref name="kept"/> channels.</summary>
    public static IEnumerable<KeyValuePair<string, bool[]>> ForGroup(ModelGraph graph, DependencyGroup group, long kept)
    {
        var mask = FirstK(group.Channels, kept, Divisor(graph, group));
        return group.Producers.Select(p => KeyValuePair.Create(p, mask));
    }
}
