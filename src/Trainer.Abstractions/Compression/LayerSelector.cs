namespace Trainer.Abstractions.Compression;

/// <summary>
/// Which layers a compressor or quantizer acts on, as NNI's config does: include by module path or by type name,
/// then exclude by path. Paths match exactly or as a prefix ending at a dot ("layer1" selects "layer1.0.conv1");
/// a trailing "*" matches any continuation ("features.*"). Empty includes select every layer.
/// </summary>
/// <param name="Names">Paths (or prefixes) to include.</param>
/// <param name="Types">Module type names to include ("Conv2d", "Linear").</param>
/// <param name="Exclude">Paths (or prefixes) to leave alone, whatever the includes say.</param>
public sealed record LayerSelector(IReadOnlyList<string> Names, IReadOnlyList<string> Types, IReadOnlyList<string> Exclude)
{
    /// <summary>Selects every layer.</summary>
    public static LayerSelector All { get; } = new([], [], []);

    /// <summary>True when the layer is selected.</summary>
    public bool Selects(string path, string typeName)
    {
        if (Exclude.Any(p => Matches(p, path))) return false;
        if (Names.Count == 0 && Types.Count == 0) return true;
        return Names.Any(p => Matches(p, path)) || Types.Any(t => string.Equals(t, typeName, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Throws when a name or exclude pattern matches none of <paramref name="paths"/>: a typo would otherwise
    /// select nothing silently. <paramref name="key"/> is the configuration key the patterns came from.</summary>
    public void ThrowOnUnmatched(IEnumerable<string> paths, string key)
    {
        var all = paths.ToList();
        var dead = Names.Concat(Exclude).Where(p => !all.Any(path => Matches(p, path))).ToList();
        if (dead.Count > 0)
            throw new ArgumentException(
                $"{key}: no layer of the model matches {string.Join(", ", dead.Select(d => $"'{d}'"))}; " +
                $"layers are {string.Join(", ", all.Take(12))}{(all.Count > 12 ? ", ..." : "")}");
    }

    private static bool Matches(string pattern, string path)
    {
        if (pattern.EndsWith('*')) return path.StartsWith(pattern[..^1], StringComparison.Ordinal);
        return path == pattern || path.StartsWith(pattern + ".", StringComparison.Ordinal);
    }
}
