using Trainer.Core.Checkpoints;
using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;

namespace Trainer.Core.Pruning;

/// <summary>
/// Loads weights into a plain network whatever pruning they were saved with: a weights checkpoint, a sparse weights file,
/// or a checkpoint of a pruning run (<c>weight_orig</c> and <c>weight_mask</c>), whose pruning is made permanent on the
/// way in, as PyTorch's <c>prune.remove</c> after loading into a network pruned the same way.
/// </summary>
public static class PrunedWeights
{
    /// <summary>Loads <paramref name="path"/> into <paramref name="network"/>; returns the pruned (module path, parameter) pairs
    /// that were made permanent (none for an unpruned checkpoint).</summary>
    /// <exception cref="CheckpointException">The file is damaged or does not fit the network (its masks included).</exception>
    public static IReadOnlyList<string> Load(string path, torch.nn.Module network, out CheckpointState state)
    {
        ArgumentNullException.ThrowIfNull(network);
        var names = CheckpointFile.TensorNames(path).ToHashSet(StringComparer.Ordinal);
        var own = network.state_dict().Keys.ToHashSet(StringComparer.Ordinal);
        var modules = network.named_modules().ToDictionary(m => m.name, m => m.module);
        var pruned = new List<(torch.nn.Module Module, string Name, string Key)>();
        foreach (var mask in names.Where(n => n.EndsWith("_mask", StringComparison.Ordinal)))
        {
            var key = mask[..^"_mask".Length];
            if (!names.Contains(key + "_orig") || !own.Contains(key) || own.Contains(key + "_orig")) continue;
            var dot = key.LastIndexOf('.');
            var (path0, name) = dot < 0 ? ("", key) : (key[..dot], key[(dot + 1)..]);
            if (modules.TryGetValue(path0, out var module)) pruned.Add((module, name, key));
        }
        foreach (var (module, name, _) in pruned) Prune.Identity(module, name);
        try
        {
            state = CheckpointFile.LoadWeights(path, network);
        }
        finally
        {
            // Loaded or refused, the network leaves plain: refused, the identity masks give back the weights it had.
            foreach (var (module, name, _) in pruned)
            {
                Prune.Remove(module, name);
                SparseWeightsFile.ClearNegativeZeros(Prune.TensorOf(module, name));
            }
        }
        return pruned.Select(p => p.Key).ToList();
    }
}
