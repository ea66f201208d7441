namespace Trainer.Core.Data;

/// <summary>
/// A dataset's files are not where the configuration says. The message names the configuration
/// key, the path that was tried and how to fix it.
/// </summary>
public sealed class DatasetNotFoundException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Full explanation, including the fix.</param>
    /// <param name="configKey">Configuration key that sets the dataset location (e.g. <c>Data:Path</c>).</param>
    /// <param name="searchedPath">File or folder that was looked for and not found.</param>
    public DatasetNotFoundException(string message, string configKey, string searchedPath)
        : base(message)
    {
        ConfigKey = configKey;
        SearchedPath = searchedPath;
    }

    /// <summary>Configuration key that sets the dataset location.</summary>
    public string ConfigKey { get; }

    /// <summary>File or folder that was looked for and not found.</summary>
    public string SearchedPath { get; }
}
