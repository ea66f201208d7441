namespace Trainer.Core.Compression;

/// <summary>An edit list does not fit the model it is replayed on (wrong architecture, or a list from another model).</summary>
public sealed class ManifestMismatchException : ArgumentException
{
    /// <summary>Creates the exception for edit <paramref name="editIndex"/> on <paramref name="layer"/>.</summary>
    /// <param name="editIndex">Position of the edit in the list.</param>
    /// <param name="edit">The edit that does not fit.</param>
    /// <param name="layer">The layer it names.</param>
    /// <param name="mismatch">What does not fit.</param>
    /// <param name="inner">The error the replay hit, if any.</param>
    /// <param name="file">The file the edits came from (a compression manifest), named first in the message when given.</param>
    public ManifestMismatchException(int editIndex, ModelEdit edit, string layer, string mismatch, Exception? inner = null, string? file = null)
        : base((file is null ? "" : $"'{file}': ") + $"edit {editIndex} ({edit}) does not fit the model at '{layer}': {mismatch}. " +
               "The edit list belongs to another architecture or another model; build the model the edits were recorded on", inner)
    {
        EditIndex = editIndex;
        Edit = edit;
        Layer = layer;
        Mismatch = mismatch;
        File = file;
    }

    /// <summary>The same mismatch, with the message naming <paramref name="file"/> (the manifest the edits were read from).</summary>
    public ManifestMismatchException InFile(string file) => new(EditIndex, Edit, Layer, Mismatch, InnerException, file);

    /// <summary>Position of the failing edit in the list (0-based).</summary>
    public int EditIndex { get; }

    /// <summary>The failing edit.</summary>
    public ModelEdit Edit { get; }

    /// <summary>The layer the mismatch was found at.</summary>
    public string Layer { get; }

    /// <summary>What does not fit.</summary>
    public string Mismatch { get; }

    /// <summary>The file the edits came from, or null when they were given in memory.</summary>
    public string? File { get; }
}
