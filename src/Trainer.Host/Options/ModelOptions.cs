namespace Trainer.Host.Options;

/// <summary>The "Model" configuration section: which model a job works on.</summary>
public sealed class ModelOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Model";

    /// <summary>A catalog name (fashion-cnn, resnet18, mobilenet_v2, ...); ignored when Type is set. Empty (the default): the
    /// task's own model.</summary>
    public string Name { get; set; } = "";

    /// <summary>Input shape as comma-separated sizes ("1,3,224,224"); empty = the model's default.</summary>
    public string InputShape { get; set; } = "";

    /// <summary>Path of an assembly holding a user's model class (with Type).</summary>
    public string Assembly { get; set; } = "";

    /// <summary>Full name of the user's model class in Assembly.</summary>
    public string Type { get; set; } = "";

    /// <summary>A checkpoint of `trainer train` whose weights to load (optional).</summary>
    public string Checkpoint { get; set; } = "";

    /// <summary>A compression manifest of `trainer compress` (manifest.json): rebuilds the compressed model and loads its weights.</summary>
    public string Manifest { get; set; } = "";

    /// <summary>Parses <see cref="InputShape"/>; null when empty.</summary>
    public long[]? ParseInputShape()
    {
        if (string.IsNullOrWhiteSpace(InputShape)) return null;
        var parts = InputShape.Split(',', StringSplitOptions.TrimEntries);
        return parts.All(p => long.TryParse(p, out var d) && d > 0) ? parts.Select(long.Parse).ToArray() : null;
    }
}
