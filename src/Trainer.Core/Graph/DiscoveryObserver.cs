using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>
/// First pass: records which layers ran, in which order, how often, with which shapes, and whether
/// NaN reaches any layer although no producer is marked (then markers could not be told apart).
/// </summary>
internal sealed class DiscoveryObserver : IPassObserver
{
    private sealed class Record(int index, long[] input)
    {
        public int Index { get; } = index;
        public long[] Input { get; } = input;
        public long[] Output { get; set; } = [];
        public int Calls { get; set; } = 1;
    }

    private readonly Dictionary<CatalogEntry, Record> records = new(ReferenceEqualityComparer.Instance);
    private readonly List<CatalogEntry> order = [];
    private readonly List<GraphProblem> problems = [];
    private readonly HashSet<string> nanSeen = [];

    /// <inheritdoc />
    public void Enter(CatalogEntry entry, Tensor input)
    {
        if (!entry.IsLayer) return;
        if (records.TryGetValue(entry, out var record)) record.Calls++;
        else
        {
            records[entry] = new Record(order.Count, input.shape);
            order.Add(entry);
        }
        if (entry.IsTarget && nanSeen.Add(entry.Name) && NanProbe.Positions(input, entry.ChannelDim(input.dim())).Length > 0)
            problems.Add(new GraphProblem(GraphProblemKind.NanWithoutMarker, entry.Name,
                $"NaN reaches the input of '{entry.Name}' ({entry.Module.GetType().Name}) with every producer cut to zeros; " +
                "the model makes NaN from zeros (a division?), so markers reaching this layer cannot be read"));
    }

    /// <inheritdoc />
    public void Exit(CatalogEntry entry, Tensor input, Tensor output)
    {
        if (records.TryGetValue(entry, out var record) && record.Calls == 1) record.Output = output.shape;
    }

    /// <summary>The layers that ran, in execution order of their first call.</summary>
    public List<LayerInfo> Layers() =>
        order.Select(e => ModuleCatalog.Describe(e, records[e].Index, records[e].Input, records[e].Output, records[e].Calls)).ToList();

    /// <summary>Modules with parameters called more than once (a reused ReLU is harmless), and NaN seen without a marker.</summary>
    public IEnumerable<GraphProblem> Problems() =>
        order.Where(e => records[e].Calls > 1 && e.Kind != LayerKind.Parameterless)
            .Select(e => new GraphProblem(GraphProblemKind.ModuleReused, e.Name,
                $"module '{e.Name}' ({e.Module.GetType().Name}) ran {records[e].Calls} times in one forward pass; " +
                "shared modules are not supported, so neither it nor the channels reaching it are analysed"))
            .Concat(problems);
}
