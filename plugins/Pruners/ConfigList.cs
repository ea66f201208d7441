using System.Text.Json;

namespace Plugins.Pruners;

/// <summary>One entry of NNI's config list, as written (before NNI's canonical form).</summary>
/// <param name="OpTypes">Module type names ("Conv2d", "Linear", or "default" for NNI's weighted module types); null: any.</param>
/// <param name="OpNames">Qualified module names; null: any.</param>
/// <param name="OpPartialNames">Substrings of module names, completed to the names that contain them.</param>
/// <param name="Exclude">True: the matching layers are left alone (a later entry still claims them first).</param>
/// <param name="SparsityPerLayer">Fraction of each matching layer's weights or channels to prune, in [0, 1).</param>
/// <param name="TotalSparsity">Fraction of all matching layers' weights to prune together (mode global), in [0, 1).</param>
/// <param name="MaxSparsityPerLayer">With TotalSparsity: no layer loses more than this fraction, in (0, 1].</param>
public sealed record ConfigEntry(IReadOnlyList<string>? OpTypes, IReadOnlyList<string>? OpNames,
    IReadOnlyList<string>? OpPartialNames, bool Exclude, double? SparsityPerLayer, double? TotalSparsity, double? MaxSparsityPerLayer);

/// <summary>
/// NNI's config list (<c>[{"op_types": ["Conv2d"], "sparsity_per_layer": 0.5}, {"op_names": ["fc"], "exclude": true}]</c>),
/// read from JSON with NNI v2.10's validation rules; every bad entry is one <see cref="ArgumentException"/> naming the
/// setting key, the entry's index and the key inside it.
/// </summary>
public static class ConfigList
{
    private static readonly string[] Keys =
        ["op_types", "op_names", "op_partial_names", "exclude", "sparsity", "sparsity_per_layer", "total_sparsity", "max_sparsity_per_layer"];

    /// <summary>Parses <paramref name="json"/>, a JSON array of entries; <paramref name="settingKey"/> names it in errors.</summary>
    /// <exception cref="ArgumentException">Not a JSON array of objects, an unknown key, a sparsity outside [0, 1), a
    /// max_sparsity_per_layer outside (0, 1], both sparsity and sparsity_per_layer, or an entry with no sparsity.</exception>
    public static IReadOnlyList<ConfigEntry> Parse(string json, string settingKey)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{settingKey} is not valid JSON ({e.Message}); write NNI's config list, e.g. " +
                "[{\"op_types\": [\"Conv2d\"], \"sparsity_per_layer\": 0.5}]", settingKey, e);
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array || document.RootElement.GetArrayLength() == 0)
                throw new ArgumentException($"{settingKey} must be a non-empty JSON array of config entries (NNI's config_list)", settingKey);
            return document.RootElement.EnumerateArray().Select((e, i) => Entry(e, $"{settingKey}[{i}]")).ToList();
        }
    }

    private static ConfigEntry Entry(JsonElement element, string where)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"{where} must be a JSON object with op_types/op_names and a sparsity", where);
        foreach (var property in element.EnumerateObject())
            if (!Keys.Contains(property.Name, StringComparer.Ordinal))
                throw new ArgumentException($"{where}: unknown key '{property.Name}' (NNI's keys: {string.Join(", ", Keys)})", where);

        var exclude = element.TryGetProperty("exclude", out var ex) && (ex.ValueKind == JsonValueKind.True ||
            (ex.ValueKind != JsonValueKind.False ? throw new ArgumentException($"{where}.exclude must be true or false", where) : false));
        var sparsity = Fraction(element, "sparsity", where, maxInclusive: false);
        var perLayer = Fraction(element, "sparsity_per_layer", where, maxInclusive: false);
        if (sparsity is not null && perLayer is not null)
            throw new ArgumentException($"{where}: 'sparsity' and 'sparsity_per_layer' have the same meaning; set only one", where);
        var total = Fraction(element, "total_sparsity", where, maxInclusive: false);
        var max = Fraction(element, "max_sparsity_per_layer", where, maxInclusive: true);
        if (max is not null && total is null)
            throw new ArgumentException($"{where}: max_sparsity_per_layer goes with total_sparsity", where);
        perLayer ??= sparsity;
        if (!exclude && perLayer is null && total is null)
            throw new ArgumentException($"{where} needs 'sparsity_per_layer' (or 'sparsity'), 'total_sparsity', or \"exclude\": true", where);
        if (perLayer is not null && total is not null)
            throw new ArgumentException($"{where}: set either sparsity_per_layer or total_sparsity, not both", where);
        return new ConfigEntry(Names(element, "op_types", where), Names(element, "op_names", where),
            Names(element, "op_partial_names", where), exclude, perLayer, total, max);
    }

    private static double? Fraction(JsonElement element, string key, string where, bool maxInclusive)
    {
        if (!element.TryGetProperty(key, out var value)) return null;
        // NNI's schema: sparsities in [0, 1), max_sparsity_per_layer in (0, 1].
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var v) || (maxInclusive ? v <= 0 || v > 1 : v < 0 || v >= 1))
            throw new ArgumentException($"{where}.{key} is {value.GetRawText()}; it must be a number in {(maxInclusive ? "(0, 1]" : "[0, 1)")}",
                where);
        return v;
    }

    private static IReadOnlyList<string>? Names(JsonElement element, string key, string where)
    {
        if (!element.TryGetProperty(key, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
            throw new ArgumentException($"{where}.{key} must be a list of strings", where);
        return value.EnumerateArray().Select(v => v.GetString()!).ToList();
    }
}
