using System.Text.Json;
using Trainer.Core.IO;

namespace Trainer.Core.Compression;

/// <summary>
/// Reads and writes a list of <see cref="ModelEdit"/> as JSON: an array of objects with a "kind" discriminator
/// ("shrink" with "KeptChannelsByProducer", "factorize" with "Layer" and "Rank"), in the order the edits were made.
/// </summary>
public static class ModelEdits
{
    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    /// <summary>The edits as indented JSON.</summary>
    public static string ToJson(IReadOnlyList<ModelEdit> edits)
    {
        ArgumentNullException.ThrowIfNull(edits);
        return JsonSerializer.Serialize(edits.ToArray(), Options);
    }

    /// <summary>Parses edits written by <see cref="ToJson"/>.</summary>
    /// <param name="json">The JSON text.</param>
    /// <param name="source">Where the text came from (a file path), for error messages.</param>
    /// <exception cref="FormatException">The text is not a list of edits; the message names the source and the position.</exception>
    public static IReadOnlyList<ModelEdit> FromJson(string json, string source = "edit list")
    {
        ArgumentNullException.ThrowIfNull(json);
        ModelEdit?[]? edits;
        try
        {
            edits = JsonSerializer.Deserialize<ModelEdit?[]>(json, Options);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            // NotSupportedException: an object without "kind" (the abstract edit type cannot be built).
            throw new FormatException($"{source} is not a valid edit list ({e.Message}); expected a JSON array of " +
                                      "{\"kind\": \"shrink\"|\"factorize\", ...} objects", e);
        }
        if (edits is null) throw new FormatException($"{source} holds null instead of a JSON array of edits");
        for (int i = 0; i < edits.Length; i++)
        {
            string? problem = edits[i] switch
            {
                null => "is null",
                ShrinkEdit { KeptChannelsByProducer: null } => "has no KeptChannelsByProducer",
                FactorizeEdit { Layer: null or "" } => "has no Layer",
                _ => null,
            };
            if (problem is not null) throw new FormatException($"{source}: edit {i} {problem}");
        }
        return edits!;
    }

    /// <summary>Writes the edits to <paramref name="path"/> through a temporary file.</summary>
    public static void Save(string path, IReadOnlyList<ModelEdit> edits) => AtomicFile.WriteAllText(path, ToJson(edits));

    /// <summary>Reads edits saved by <see cref="Save"/>.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="FormatException">The file is not an edit list.</exception>
    public static IReadOnlyList<ModelEdit> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"edit list '{path}' does not exist", path);
        return FromJson(File.ReadAllText(path), $"edit list '{path}'");
    }
}
