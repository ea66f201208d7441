namespace Trainer.Core.Graph;

/// <summary>Formats shapes and position lists for messages.</summary>
internal static class Shapes
{
    /// <summary>"[d0,d1,...]".</summary>
    public static string Format(IEnumerable<long> shape) => "[" + string.Join(",", shape) + "]";

    /// <summary>Sorted positions as ranges, e.g. "{0-48, 98-146}" (at most <paramref name="maxRanges"/> ranges).</summary>
    public static string Ranges(IReadOnlyList<long> sorted, int maxRanges = 8)
    {
        var parts = new List<string>();
        int i = 0;
        while (i < sorted.Count && parts.Count < maxRanges)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        if (i < sorted.Count) parts.Add("...");
        return "{" + string.Join(", ", parts) + $"}} ({sorted.Count} positions)";
    }
}
