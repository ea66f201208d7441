using System.Globalization;

namespace Trainer.Core.Tasks;

/// <summary>
/// Reads a task's own keys (Task:Settings:*): each read names the key it accepts, a value that does not parse is an
/// <see cref="ArgumentException"/> naming the key, the value and what is accepted, and <see cref="RejectUnknown"/> names any
/// key no read asked for, with the list of the task's keys.
/// </summary>
public sealed class TaskSettingsReader
{
    private readonly IReadOnlyDictionary<string, string> _settings;
    private readonly string _taskName;
    private readonly List<string> _known = [];

    /// <summary>A reader over <paramref name="settings"/> for the task <paramref name="taskName"/> (for messages).</summary>
    public TaskSettingsReader(IReadOnlyDictionary<string, string> settings, string taskName)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _taskName = taskName;
    }

    /// <summary>"Task:Settings:<paramref name="key"/>", as messages name a key.</summary>
    public static string Key(string key) => $"Task:Settings:{key}";

    /// <summary>The raw text of <paramref name="key"/> (keys match case-insensitively), or null when it is not set.</summary>
    public string? Text(string key)
    {
        _known.Add(key);
        foreach (var (k, v) in _settings)
            if (k.Equals(key, StringComparison.OrdinalIgnoreCase)) return v.Trim();
        return null;
    }

    /// <summary>A string from <paramref name="allowed"/> (case-insensitive), or <paramref name="fallback"/> when unset.</summary>
    public string Choice(string key, string fallback, params string[] allowed)
    {
        var text = Text(key);
        if (text is null || text.Length == 0) return fallback;
        return allowed.FirstOrDefault(a => a.Equals(text, StringComparison.OrdinalIgnoreCase))
               ?? throw Invalid(key, text, $"one of {string.Join(", ", allowed)}");
    }

    /// <summary>A number in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when unset.</summary>
    public double Number(string key, double fallback, double min, double max, string meaning)
    {
        var text = Text(key);
        if (text is null || text.Length == 0) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value) || value < min || value > max)
            throw Invalid(key, text, $"a number from {Invariant(min)} to {Invariant(max)} ({meaning}, default {Invariant(fallback)})");
        return value;
    }

    /// <summary>A whole number in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when unset.</summary>
    public int Integer(string key, int fallback, int min, int max, string meaning)
    {
        var text = Text(key);
        if (text is null || text.Length == 0) return fallback;
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw Invalid(key, text, $"a whole number from {min} to {max} ({meaning}, default {fallback})");
        return value;
    }

    /// <summary>true or false, or <paramref name="fallback"/> when unset.</summary>
    public bool Flag(string key, bool fallback, string meaning)
    {
        var text = Text(key);
        if (text is null || text.Length == 0) return fallback;
        return bool.TryParse(text, out var value) ? value : throw Invalid(key, text, $"true or false ({meaning}, default {fallback.ToString().ToLowerInvariant()})");
    }

    /// <summary>A comma-separated list of numbers, each in [<paramref name="min"/>, <paramref name="max"/>], or null when unset.</summary>
    public double[]? Numbers(string key, double min, double max, string meaning)
    {
        var text = Text(key);
        if (text is null || text.Length == 0) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i])
                || values[i] < min || values[i] > max)
                throw Invalid(key, text, $"comma-separated numbers from {Invariant(min)} to {Invariant(max)} ({meaning})");
        return values;
    }

    /// <summary>An <see cref="ArgumentException"/> naming <paramref name="key"/>, its value and what is accepted.</summary>
    public static ArgumentException Invalid(string key, string value, string accepted) =>
        new($"{Key(key)} = '{value}' is invalid; accepted: {accepted}.");

    /// <summary>Throws when a setting was given that no read asked for, naming it and listing the task's settings.</summary>
    public void RejectUnknown()
    {
        var unknown = _settings.Keys.Where(k => !_known.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unknown.Count == 0) return;
        throw new ArgumentException($"{string.Join(", ", unknown.Select(Key))} {(unknown.Count == 1 ? "is not a setting" : "are not settings")} " +
                                    $"of the task '{_taskName}'; its settings: {string.Join(", ", _known.Distinct().Order())}.");
    }

    private static string Invariant(double value) => value.ToString(CultureInfo.InvariantCulture);
}
