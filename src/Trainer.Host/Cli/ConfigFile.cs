using System.Text.Json;
using Trainer.Core.IO;
using Trainer.Host.Jobs;
using Trainer.Host.Options;

namespace Trainer.Host.Cli;

/// <summary>
/// Checks a JSON configuration file (appsettings.json, --config FILE) before the configuration system reads it. That system
/// reports a damaged file as an InvalidDataException without saying what is wrong, accepts bytes that are not UTF-8,
/// treats a directory in the file's place as a missing file and silently ignores sections nobody reads; here each of
/// these is one configuration error (exit code 2) naming the file and the problem.
/// </summary>
public static class ConfigFile
{
    /// <summary>The top-level sections a configuration file may hold: the host's option sections and Logging.</summary>
    public static readonly IReadOnlyList<string> Sections =
    [
        TrainerOptions.Section, DataOptions.Section, TaskOptions.Section, ModelOptions.Section, AnalyzeOptions.Section,
        CompressionOptions.Section, PipelineOptions.Section, QuantizationOptions.Section, ExportOptions.Section, PredictOptions.Section, SearchOptions.Section, "Logging",
    ];

    // What Microsoft.Extensions.Configuration.Json accepts.
    private static readonly JsonDocumentOptions Options = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Throws a <see cref="JobException"/> naming <paramref name="path"/> when it is not a usable configuration file.</summary>
    /// <param name="path">The file.</param>
    /// <param name="what">How the user gave it ("--config file", "Configuration file").</param>
    public static void Check(string path, string what)
    {
        var text = FileBytes.ReadText(path, what, message => new JobException(message));
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(text, Options);
        }
        catch (JsonException e)
        {
            throw new JobException($"{what} '{path}' is not valid JSON: {e.Message}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new JobException($"{what} '{path}' must hold a JSON object of sections; it holds a {root.ValueKind}.");
            var unknown = root.EnumerateObject().Select(p => p.Name)
                .Where(name => !Sections.Contains(name, StringComparer.OrdinalIgnoreCase)).ToList();
            if (unknown.Count > 0)
                throw new JobException($"{what} '{path}' has unknown section(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; " +
                                       $"accepted: {string.Join(", ", Sections)}. Is it a configuration file?");
            if (Duplicate(root, "") is { } key)
                throw new JobException($"{what} '{path}' sets '{key}' twice.");
        }
    }

    /// <summary>The first key set twice (keys compare without case, as configuration does), or null.</summary>
    private static string? Duplicate(JsonElement element, string prefix)
    {
        if (element.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var item in element.EnumerateArray())
                if (Duplicate(item, $"{prefix}:{i++}") is { } key) return key;
            return null;
        }
        if (element.ValueKind != JsonValueKind.Object) return null;
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in element.EnumerateObject())
        {
            var path = prefix.Length == 0 ? property.Name : $"{prefix}:{property.Name}";
            if (!seen.Add(property.Name)) return path;
            if (Duplicate(property.Value, path) is { } key) return key;
        }
        return null;
    }
}
