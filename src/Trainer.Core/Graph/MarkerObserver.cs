using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>One producer's pass: for every target layer, the input positions where its NaN arrived.</summary>
internal sealed class MarkerObserver(ProbeSession session) : IPassObserver
{
    private readonly Dictionary<string, (SortedSet<long> Positions, long Width)> reached = [];
    private readonly List<string> order = [];

    /// <summary>Targets reached, in the order they were first reached, with positions (ascending) and input width.</summary>
    public IReadOnlyList<(string Target, long[] Positions, long Width)> Reached =>
        order.Select(t => (t, reached[t].Positions.ToArray(), reached[t].Width)).ToList();

    /// <inheritdoc />
    public void Enter(CatalogEntry entry, Tensor input)
    {
        if (!session.MarkerEmitted || !entry.IsTarget) return;
        long dim = entry.ChannelDim(input.dim());
        var positions = NanProbe.Positions(input, dim);
        if (positions.Length == 0) return;
        if (!reached.TryGetValue(entry.Name, out var slot))
        {
            slot = (new SortedSet<long>(), input.shape[dim]);
            reached[entry.Name] = slot;
            order.Add(entry.Name);
        }
        slot.Positions.UnionWith(positions);
    }

    /// <inheritdoc />
    public void Exit(CatalogEntry entry, Tensor input, Tensor output) { }
}
