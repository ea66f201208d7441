using System.Globalization;

namespace Trainer.Abstractions.Compression;

/// <summary>
/// Typed access to a plugin's free-form settings (<see cref="CompressionRequest.Settings"/>) with one clear error per bad
/// value, naming the configuration key (<c>Compression:Settings:&lt;key&gt;</c>) and what it accepts. Keys are
/// case-insensitive. Plugins call <see cref="ThrowOnUnknown"/> after reading so a misspelt key is not silently ignored.
/// </summary>
public sealed class SettingsReader
{
    private readonly Dictionary<string, string> values;
    private readonly HashSet<string> read = new(StringComparer.OrdinalIgnoreCase);
    private readonly string prefix;

    /// <summary>Wraps <paramref name="settings"/>; <paramref name="prefix"/> is how errors name the section.</summary>
    public SettingsReader(IReadOnlyDictionary<string, string> settings, string prefix = "Compression:Settings")
    {
        ArgumentNullException.ThrowIfNull(settings);
        values = new Dictionary<string, string>(settings, StringComparer.OrdinalIgnoreCase);
        this.prefix = prefix;
    }

    /// <summary>The raw value, or null when the key is absent or empty.</summary>
    public string? Text(string key)
    {
        read.Add(key);
        return values.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v) ? v.Trim() : null;
    }

    /// <summary>A string that must be one of <paramref name="allowed"/> (case-insensitive); returns it lower-cased.</summary>
    public string Choice(string key, string fallback, params string[] allowed)
    {
        var v = Text(key) ?? fallback;
        if (!allowed.Contains(v, StringComparer.OrdinalIgnoreCase))
            throw Bad(key, v, "one of " + string.Join(", ", allowed));
        return v.ToLowerInvariant();
    }

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>] (use exclusive bounds via the flags).</summary>
    public double Double(string key, double fallback, double min = double.NegativeInfinity, double max = double.PositiveInfinity,
        bool minExclusive = false, bool maxExclusive = false)
    {
        var text = Text(key);
        if (text is null) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || double.IsNaN(v))
            throw Bad(key, text, "a number");
        bool low = minExclusive ? v <= min : v < min, high = maxExclusive ? v >= max : v > max;
        if (low || high)
            throw Bad(key, text, $"a number in {(minExclusive ? "(" : "[")}{Fmt(min)}, {Fmt(max)}{(maxExclusive ? ")" : "]")}");
        return v;
    }

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public int Int(string key, int fallback, int min = int.MinValue, int max = int.MaxValue)
    {
        var text = Text(key);
        if (text is null) return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < min || v > max)
            throw Bad(key, text, $"an integer in [{min}, {max}]");
        return v;
    }

    /// <summary>true/false.</summary>
    public bool Bool(string key, bool fallback)
    {
        var text = Text(key);
        if (text is null) return fallback;
        return bool.TryParse(text, out var v) ? v : throw Bad(key, text, "true or false");
    }

    /// <summary>A comma-separated list (empty entries dropped).</summary>
    public IReadOnlyList<string> List(string key) =>
        Text(key)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    /// <summary>"name=value,name=value" pairs of numbers, each checked like <see cref="Double"/>.</summary>
    public IReadOnlyDictionary<string, double> DoubleMap(string key, double min, double max, bool minExclusive = false, bool maxExclusive = false)
    {
        var map = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var pair in List(key))
        {
            var parts = pair.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || parts[0].Length == 0) throw Bad(key, pair, "name=number pairs separated by commas");
            map[parts[0]] = new SettingsReader(new Dictionary<string, string> { [key] = parts[1] }, prefix)
                .Double(key, 0, min, max, minExclusive, maxExclusive);
        }
        return map;
    }

    /// <summary>Throws when a setting was given that nothing read (a misspelt or unsupported key), listing the known ones.</summary>
    public void ThrowOnUnknown(string compressorName)
    {
        var unknown = values.Keys.Where(k => !read.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException(
                $"{compressorName} does not know the setting(s) {string.Join(", ", unknown.Select(k => $"{prefix}:{k}"))}; " +
                $"it reads {string.Join(", ", read.OrderBy(k => k, StringComparer.Ordinal))}");
    }

    private ArgumentException Bad(string key, string value, string expected) =>
        new($"{prefix}:{key} is '{value}', but it must be {expected}");

    private static string Fmt(double v) => double.IsInfinity(v) ? (v > 0 ? "inf" : "-inf") : v.ToString(CultureInfo.InvariantCulture);
}
