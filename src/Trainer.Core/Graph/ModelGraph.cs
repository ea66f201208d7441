using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>
/// The channel dependency graph of a model: which layers ran, which producers (convolutions, Linear) feed
/// which layers with which channel mapping, which producers must be pruned together, and what could
/// not be analysed. Built without tracing, from forward hooks and NaN markers: for each producer,
/// one eval-mode pass in which its output is zeros with NaN in channels 0, 1 and C-1 and every other
/// convolution/Linear output is zeros; the positions where NaN reaches each layer's input give the mapping.
/// This is the one graph every compressor uses: compressors choose channels, the core shrinks.
/// </summary>
public sealed class ModelGraph
{
    private readonly Dictionary<string, LayerInfo> layersByName;
    private readonly Dictionary<string, DependencyGroup> groupByProducer;
    private ChannelDependency? channelDependency, pruningDependency;
    private GroupDependency? groupDependency;

    internal ModelGraph(IReadOnlyList<long> inputShape, IReadOnlyList<LayerInfo> layers, IReadOnlyList<string> producers,
        IReadOnlyList<ChannelEdge> edges, IReadOnlyList<DependencyGroup> groups, IReadOnlyList<GraphProblem> problems,
        TimeSpan buildTime)
    {
        InputShape = inputShape;
        Layers = layers;
        Producers = producers;
        Edges = edges;
        Groups = groups;
        Problems = problems;
        BuildTime = buildTime;
        layersByName = layers.ToDictionary(l => l.Name);
        groupByProducer = groups.SelectMany(g => g.Producers.Select(p => (p, g))).ToDictionary(x => x.p, x => x.g);
    }

    /// <summary>
    /// Analyses <paramref name="model"/> on an example input of <paramref name="inputShape"/>. The model runs
    /// in eval mode without gradients; every module's training flag is restored afterwards and no hook is left.
    /// </summary>
    /// <param name="model">The model; its submodules must be called with <c>call</c> (hooks do not fire through <c>forward</c>).</param>
    /// <param name="inputShape">Example input shape including the batch dimension, e.g. [1,3,224,224].</param>
    /// <param name="logger">Receives a summary and each problem as a warning.</param>
    /// <exception cref="Trainer.Core.Analysis.ModelAnalysisException">The model fails on that input; the message names the layer.</exception>
    public static ModelGraph Build(nn.Module<Tensor, Tensor> model, long[] inputShape, ILogger? logger = null) =>
        GraphBuilder.Build(model, inputShape, logger ?? NullLogger.Instance);

    /// <summary>The example input shape the graph was built with.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>Every layer (leaf module, or inner module with parameters of its own) that ran, in execution order.</summary>
    public IReadOnlyList<LayerInfo> Layers { get; }

    /// <summary>Names of the producers (Conv1d/2d/3d that are not depthwise, ConvTranspose with groups 1, Linear; each run once), in execution order.</summary>
    public IReadOnlyList<string> Producers { get; }

    /// <summary>Every producer → layer channel edge, in producer then target execution order.</summary>
    public IReadOnlyList<ChannelEdge> Edges { get; }

    /// <summary>Dependency groups; every producer is in exactly one. Ordered by their first producer.</summary>
    public IReadOnlyList<DependencyGroup> Groups { get; }

    /// <summary>What could not be analysed, naming the layers and the reason. Empty for a fully understood model.</summary>
    public IReadOnlyList<GraphProblem> Problems { get; }

    /// <summary>Wall time of <see cref="Build"/>.</summary>
    public TimeSpan BuildTime { get; }

    /// <summary>The layer called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No such layer ran.</exception>
    public LayerInfo Layer(string name) =>
        layersByName.TryGetValue(name, out var layer) ? layer : throw new KeyNotFoundException($"no layer '{name}' ran in the model");

    /// <summary>The layer called <paramref name="name"/>, or null.</summary>
    public LayerInfo? FindLayer(string name) => layersByName.GetValueOrDefault(name);

    /// <summary>Edges leaving <paramref name="producer"/>.</summary>
    public IReadOnlyList<ChannelEdge> EdgesFrom(string producer) => Edges.Where(e => e.Producer == producer).ToList();

    /// <summary>Edges arriving at <paramref name="target"/>.</summary>
    public IReadOnlyList<ChannelEdge> EdgesTo(string target) => Edges.Where(e => e.Target == target).ToList();

    /// <summary>The edge from <paramref name="producer"/> to <paramref name="target"/>, or null.</summary>
    public ChannelEdge? Edge(string producer, string target) =>
        Edges.FirstOrDefault(e => e.Producer == producer && e.Target == target);

    /// <summary>Layers that read <paramref name="producer"/>'s channels as input channels (Conv2d, Linear).</summary>
    public IReadOnlyList<ChannelEdge> ConsumersOf(string producer) =>
        Edges.Where(e => e.Producer == producer && e.Role == EdgeRole.Consumer).ToList();

    /// <summary>BatchNorm, GroupNorm and depthwise layers that receive <paramref name="producer"/>'s channels with identity and shrink with it.</summary>
    public IReadOnlyList<string> FollowersOf(string producer) =>
        Edges.Where(e => e.Producer == producer && e.Role == EdgeRole.Follower && e.Mapping.Kind == MappingKind.Identity)
            .Select(e => e.Target).ToList();

    /// <summary>The dependency group of <paramref name="producer"/>.</summary>
    /// <exception cref="KeyNotFoundException">Not a producer.</exception>
    public DependencyGroup GroupOf(string producer) =>
        groupByProducer.TryGetValue(producer, out var g) ? g : throw new KeyNotFoundException($"'{producer}' is not a producer");

    /// <summary>Sets of layers whose output channels are coupled, as NNI v2.10's ChannelDependency gives them (a depthwise conv a
    /// layer of its own; see <see cref="Graph.ChannelDependency"/>).</summary>
    public ChannelDependency ChannelDependency => channelDependency ??= ChannelDependency.From(this);

    /// <summary>The sets the shrinker prunes together: a depthwise conv in the set of the producer whose channels it carries.</summary>
    public ChannelDependency PruningDependency => pruningDependency ??= ChannelDependency.ForPruning(this);

    /// <summary>Required output-channel divisors of conv layers, in NNI's GroupDependency form.</summary>
    public GroupDependency GroupDependency => groupDependency ??= GroupDependency.From(this);

    /// <summary>
    /// Graphviz DOT text: one node per layer that produces, receives or carries channels (type, output
    /// shape, channels, FLOPs when given), edges labelled with their mapping, coupled groups in one colour each.
    /// </summary>
    /// <param name="flopsPerLayer">Optional FLOPs (or MACs) per layer name, shown on the nodes.</param>
    public string ToDot(IReadOnlyDictionary<string, long>? flopsPerLayer = null) => DotExporter.Export(this, flopsPerLayer);
}
