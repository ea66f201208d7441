using Trainer.Core.Pruning.TorchPrune;
using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.Schedules;

/// <summary>
/// The tensors a pruning callback works on. They are reparametrised (<see cref="Prune.Identity{T}"/>) when the callback is
/// created, so every checkpoint of the run, from the first epoch on, holds <c>name_orig</c> and <c>name_mask</c> and a
/// resumed run (whose callback is created the same way before loading) fits them.
/// </summary>
internal sealed class PruningTargets
{
    public PruningTargets(IReadOnlyList<(nn.Module Module, string Name)> targets)
    {
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.Count == 0) throw new ArgumentException("Name at least one (module, parameter name) pair to prune.", nameof(targets));
        if (targets.Distinct().Count() != targets.Count)
            throw new ArgumentException("A (module, parameter name) pair appears twice in the pruning targets; list each tensor once.", nameof(targets));
        Items = targets;
        // Every name is looked up before any is reparametrised: an unknown one (named in the error) changes nothing.
        foreach (var (module, name) in targets) Prune.TensorOf(module, name);
        foreach (var (module, name) in targets)
            if (Prune.MethodOf(module, name) is null) Prune.Identity(module, name);
    }

    public IReadOnlyList<(nn.Module Module, string Name)> Items { get; }

    public int Count => Items.Count;

    /// <summary>The mask buffer of target <paramref name="i"/>, or an explanation when pruning was made permanent meanwhile.</summary>
    public Tensor Mask(int i) => Reparametrization.MaskOf(Items[i].Module, Items[i].Name) ?? throw new InvalidOperationException(
        $"'{Items[i].Name}' of {Items[i].Module.GetName()} is no longer pruned (Prune.Remove was called); the pruning callback cannot go on with it.");

    /// <summary>The unmasked parameter (<c>name_orig</c>) of target <paramref name="i"/>.</summary>
    public Tensor Original(int i) => Items[i].Module.get_parameter(Items[i].Name + "_orig")
        ?? throw new InvalidOperationException($"{Items[i].Module.GetName()} has no '{Items[i].Name}_orig'.");

    /// <summary>
    /// The values to rank target <paramref name="i"/> by: <c>name_orig * name_mask</c> now. The module's <c>name</c> is the
    /// product of the last forward, from before the last optimizer step.
    /// </summary>
    public Tensor Magnitudes(int i)
    {
        using var _ = torch.no_grad();
        return Original(i).detach() * Mask(i);
    }

    public long Entries(int i) => Mask(i).numel();

    /// <summary>How many entries of target <paramref name="i"/> the mask prunes.</summary>
    public long Pruned(int i)
    {
        using var scope = torch.NewDisposeScope();
        var mask = Mask(i);
        return mask.numel() - mask.count_nonzero().item<long>();
    }

    /// <summary>How many channels along <paramref name="dim"/> of target <paramref name="i"/> the mask prunes whole.</summary>
    public long PrunedChannels(int i, long dim)
    {
        using var scope = torch.NewDisposeScope();
        var mask = Mask(i);
        var perChannel = mask.movedim([dim], [0]).reshape(mask.shape[dim], -1).abs().sum(1);
        return (perChannel == 0).sum().item<long>();
    }

    /// <summary>Which output channels (dim 0) of target <paramref name="i"/> still have an unpruned entry.</summary>
    public bool[] AliveChannels(int i)
    {
        using var scope = torch.NewDisposeScope();
        var mask = Mask(i);
        return mask.reshape(mask.shape[0], -1).ne(0).any(1).data<bool>().ToArray();
    }

    /// <summary>Prunes the output channels <paramref name="channels"/> (dim 0) of target <paramref name="i"/> whole, on top of its mask.</summary>
    public void PruneChannels(int i, IReadOnlyCollection<int> channels)
    {
        if (channels.Count == 0) return;
        using var scope = torch.NewDisposeScope();
        var mask = Mask(i);
        var keep = torch.ones(mask.shape[0], dtype: mask.dtype, device: mask.device);
        keep.index_fill_(0, torch.tensor(channels.Select(c => (long)c).ToArray(), device: mask.device), 0);
        var shape = new long[mask.dim()];
        Array.Fill(shape, 1L);
        shape[0] = mask.shape[0];
        Prune.CustomFromMask(Items[i].Module, Items[i].Name, keep.reshape(shape).expand_as(mask).contiguous());
    }

    /// <summary>
    /// Makes every target's pruning permanent (Lightning's make_pruning_permanent). A pruned entry of a negative weight is
    /// −0.0 after <c>orig · mask</c>; it is set to +0.0, equal in every computation, so that
    /// <see cref="SparseWeightsFile"/> leaves it out of the export.
    /// </summary>
    public void MakePermanent()
    {
        foreach (var (module, name) in Items)
            if (Prune.MethodOf(module, name) is not null)
            {
                Prune.Remove(module, name);
                SparseWeightsFile.ClearNegativeZeros(Prune.TensorOf(module, name));
            }
    }
}
