using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Trainer.Core.Compression;
using Trainer.Core.Graph;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// The tensors besides the weights that a channel-pruning schedule masks, so that a pruned output channel outputs zero and
/// the masked model computes what the shrunk model (<see cref="PrunedChannelShrink"/>) will: each target's bias (with the
/// target's own channels, as NNI's masks of weight and bias), and the weight and bias of every BatchNorm/InstanceNorm and the
/// bias of every depthwise conv that follows a target's channels, where the shrink will remove the channel (the graph core's
/// plan, so a residual sum or a concatenation is masked only where every producer of the channel pruned it).
/// </summary>
/// <remarks>
/// Without a shrink, a BatchNorm after a pruned conv channel would still output its β (through ReLU) into the next layer, a
/// channel the shrunk model no longer has. The tensors are reparametrised (mask of ones) when the callback is created, so
/// checkpoints hold their <c>_orig</c>/<c>_mask</c> and a resumed run fits them. A channel a producer pruned that its group
/// keeps (another producer of a residual sum keeps it, or the group cannot shrink) keeps its followers unmasked: the shrunk
/// model keeps that channel too, with the same values.
/// </remarks>
internal sealed class ChannelFollowerMasks
{
    private readonly PruningTargets _targets;
    private readonly ModelEditor? _editor;
    private readonly ILogger _logger;
    private readonly Dictionary<int, string> _paths = [];
    private readonly List<int> _biased = [];
    private readonly Dictionary<string, (nn.Module Module, string[] Names)> _followers = new(StringComparer.Ordinal);
    private readonly List<(nn.Module Module, string Name)> _tensors = [];

    /// <summary>Finds and reparametrises the tensors that follow <paramref name="targets"/>' output channels.</summary>
    /// <param name="targets">The reparametrised weights, output channels on dim 0.</param>
    /// <param name="network">The whole network, for its graph (which layers follow which channels); null masks the biases only.</param>
    /// <param name="inputShape">The network's input shape, batch dim included.</param>
    /// <param name="logger">Receives a warning when the graph cannot be built or planned.</param>
    public ChannelFollowerMasks(PruningTargets targets, nn.Module<Tensor, Tensor>? network, IReadOnlyList<long>? inputShape, ILogger logger)
    {
        _targets = targets;
        _logger = logger;
        for (int i = 0; i < targets.Count; i++)
        {
            var (module, name) = targets.Items[i];
            if (name == "weight" && module.named_parameters(recurse: false).Any(p => p.name is "bias" or "bias_orig")) _biased.Add(i);
        }
        if (network is not null && inputShape is not null)
        {
            foreach (var (path, module) in network.named_modules())
                for (int i = 0; i < targets.Count; i++)
                    if (ReferenceEquals(module, targets.Items[i].Module)) _paths.TryAdd(i, path);
            try
            {
                _editor = new ModelEditor(network, inputShape.ToArray(), new ShrinkOptions { RoundTo = 1 }, logger: NullLogger.Instance);
                FindFollowers(network, _editor.Graph);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
            {
                _logger.LogWarning("The network's graph could not be built ({Error}); pruned channels mask their weights and biases, " +
                                   "not the BatchNorms after them, so a shrunk model may differ from the masked one.", e.Message);
                _editor = null;
                _followers.Clear();
            }
        }
        foreach (var i in _biased) _tensors.Add((targets.Items[i].Module, "bias"));
        foreach (var (module, names) in _followers.Values)
            foreach (var name in names)
                if (!_tensors.Contains((module, name))) _tensors.Add((module, name));
        foreach (var (module, name) in _tensors)
            if (Prune.MethodOf(module, name) is null) Prune.Identity(module, name);
    }

    /// <summary>Every tensor masked besides the targets.</summary>
    public IReadOnlyList<(nn.Module Module, string Name)> Tensors => _tensors;

    // Norms and depthwise convs that any target's channels reach: candidates for masks.
    private void FindFollowers(nn.Module network, ModelGraph graph)
    {
        var modules = network.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var producers = _paths.Values.ToHashSet(StringComparer.Ordinal);
        foreach (var edge in graph.Edges.Where(e => producers.Contains(e.Producer)))
        {
            if (_followers.ContainsKey(edge.Target) || !modules.TryGetValue(edge.Target, out var module)) continue;
            var names = graph.FindLayer(edge.Target)?.Kind switch
            {
                LayerKind.Norm => new[] { "weight", "bias" },
                LayerKind.DepthwiseConv => ["bias"],
                _ => [],
            };
            // An affine-free norm or a depthwise conv without bias outputs zero for a zero channel already.
            names = names.Where(n => module.named_parameters(recurse: false).Any(p => p.name == n || p.name == n + "_orig")).ToArray();
            if (names.Length > 0) _followers[edge.Target] = (module, names);
        }
    }

    /// <summary>Masks the followers of the channels the targets' masks prune now (masks only grow).</summary>
    public void Update()
    {
        using var scope = NewDisposeScope();
        foreach (var i in _biased) MaskWith(_targets.Items[i].Module, "bias", _targets.AliveChannels(i));
        if (_editor is null || _followers.Count == 0) return;
        var alive = _paths.ToDictionary(p => p.Value, p => _targets.AliveChannels(p.Key), StringComparer.Ordinal);
        var kept = PrunedChannelShrink.KeptByGroup(_editor.ChannelGroups, alive, NullLogger.Instance);
        if (kept.Count == 0) return;
        IReadOnlyList<LayerPlan> plans;
        try
        {
            plans = _editor.PlanShrink(kept);
        }
        catch (ArgumentException e)
        {
            _logger.LogWarning("The pruned channels cannot be shrunk as they are ({Error}); the layers after them stay unmasked.", e.Message);
            return;
        }
        foreach (var plan in plans)
        {
            if (plan.KeepIn is not { } keep || !_followers.TryGetValue(plan.Layer.Name, out var follower)) continue;
            var flags = new bool[plan.InWidth];
            foreach (var c in keep) flags[c] = true;
            foreach (var name in follower.Names) MaskWith(follower.Module, name, flags);
        }
    }

    /// <summary>Makes the followers' masking permanent, as <see cref="PruningTargets.MakePermanent"/> does the targets'.</summary>
    public void MakePermanent() => PruningConfig.MakeTargetsPermanent(_tensors);

    // Prunes the entries of a 1-D tensor whose flag is false, on top of its mask; nothing when the mask already has them.
    private static void MaskWith(nn.Module module, string name, bool[] keep)
    {
        var current = Reparametrization.MaskOf(module, name)!;
        if (current.shape.Length != 1 || current.shape[0] != keep.Length) return;
        var mask = tensor(keep).to(current.dtype);
        if (current.equal(current * mask).all().item<bool>()) return;
        Prune.CustomFromMask(module, name, mask);
    }
}
