namespace Trainer.Host.Options;

/// <summary>The "Data" configuration section.</summary>
public sealed class DataOptions
{
    /// <summary>Configuration section name.</summary>
    public const string Section = "Data";

    /// <summary>Where the task's data is; the task says what it expects there (fashion-mnist: the four IDX files, gzip'd or not).</summary>
    public string Path { get; set; } = "/usr/share/datasets/fashion-mnist";

    /// <summary>Fraction of the training set to use, in (0, 1].</summary>
    public double SubsetRatio { get; set; } = 1.0;
}
