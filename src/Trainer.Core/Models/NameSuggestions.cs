namespace Trainer.Core.Models;

/// <summary>Finds the known names closest to a mistyped one, for error messages.</summary>
public static class NameSuggestions
{
    /// <summary>Up to <paramref name="count"/> candidates in order of edit distance (ties keep the candidates' order).</summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates, int count = 3) =>
        candidates.Select((c, i) => (c, i, d: Distance(name.ToLowerInvariant(), c.ToLowerInvariant())))
            .OrderBy(x => x.d).ThenBy(x => x.i).Take(count).Select(x => x.c).ToList();

    /// <summary>Levenshtein distance.</summary>
    public static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        var current = new int[b.Length + 1];
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
