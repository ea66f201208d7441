using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>
/// Re-runs a producer's pass watching every module's input and output to find where its marked
/// channels first stop looking like identity, offset or block: a module that changes the layout,
/// or functional code inside a container.
/// </summary>
internal sealed class DiagnosisObserver(ProbeSession session, long channels) : IPassObserver
{
    /// <summary>Where the layout first broke, or null if it never visibly did.</summary>
    public string? Culprit { get; private set; }

    /// <inheritdoc />
    public void Enter(CatalogEntry entry, Tensor input)
    {
        if (Culprit is not null || !session.MarkerEmitted) return;
        if (Fits(entry, input, out var seen)) return;
        var parent = session.Parent;
        Culprit = parent is null
            ? $"the input of '{entry.Name}' already shows {seen}"
            : $"functional code in '{parent.Name}' ({parent.Module.GetType().Name}) before '{entry.Name}' makes {seen}";
    }

    /// <inheritdoc />
    public void Exit(CatalogEntry entry, Tensor input, Tensor output)
    {
        if (Culprit is not null || !session.MarkerEmitted) return;
        if (Fits(entry, output, out var seen)) return;
        var type = entry.Module.GetType().Name;
        Culprit = entry.IsLayer && !entry.Module.named_children().Any()
            ? $"'{entry.Name}' ({type}) changes the channel layout: its output shows {seen}"
            : $"functional code inside '{entry.Name}' ({type}) changes the channel layout: its output shows {seen}";
    }

    private bool Fits(CatalogEntry entry, Tensor t, out string seen)
    {
        seen = "";
        if (t.dim() == 0) return true;
        long dim = entry.ChannelDim(t.dim());
        var positions = NanProbe.Positions(t, dim);
        if (positions.Length == 0 || MarkerPattern.TryFit(positions, channels, t.shape[dim], out _)) return true;
        seen = $"NaN at {Shapes.Ranges(positions)} of dimension {dim} (width {t.shape[dim]})";
        return false;
    }
}
