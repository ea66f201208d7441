namespace Trainer.Core.Compression;

/// <summary>An edit list does not fit the model it is replayed on (wrong architecture, or a list from another model).</summary>
public sealed class ManifestMismatchException : ArgumentException
{
    /// <summary>Creates the exception for edit <paramref name="editIndex"/> on <paramref name="layer"/>.</summary>
    public ManifestMismatchException(int editIndex, ModelEdit edit, string layer, string mismatch, Exception? inner = null)
        : base($"edit {editIndex} ({edit}) does not fit the model at '{layer}': {mismatch}. The edit list belongs to another " +
               "architecture or another model; build the model the edits were recorded on", inner)
    {
        EditIndex = editIndex;
        Edit = edit;
        Layer = layer;
    }

    /// <summary>Position of the failing edit in the list (0-based).</summary>
    public int EditIndex { get; }

    /// <summary>The failing edit.</summary>
    public ModelEdit Edit { get; }

    /// <summary>The layer the mismatch was found at.</summary>
    public string Layer { get; }
}
