using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>
/// torch.nn.utils.prune for TorchSharp modules: each call prunes parameter <c>name</c> of a module in place, as PyTorch's
/// function of the same name does. The parameter becomes <c>name_orig</c>, its mask the buffer <c>name_mask</c> (both in
/// the state_dict), and before each forward (through <c>module.call</c>) the module's <c>name</c> is recomputed as
/// <c>name_orig * name_mask</c>. Pruning a tensor again composes the methods as PyTorch's <see cref="PruningContainer"/>.
/// </summary>
public static class Prune
{
    /// <summary>Reparametrises <paramref name="name"/> with a mask of ones (nothing pruned). Returns <paramref name="module"/>.</summary>
    public static T Identity<T>(T module, string name) where T : nn.Module =>
        Apply(module, name, new IdentityPruning());

    /// <summary>Prunes <paramref name="amount"/> entries of <paramref name="name"/> at random. Returns <paramref name="module"/>.</summary>
    public static T RandomUnstructured<T>(T module, string name, PruningAmount amount) where T : nn.Module =>
        Apply(module, name, new RandomUnstructured(amount));

    /// <summary>
    /// Prunes the <paramref name="amount"/> entries of <paramref name="name"/> with the smallest absolute
    /// <paramref name="importanceScores"/> (the parameter's own values when null). Returns <paramref name="module"/>.
    /// </summary>
    public static T L1Unstructured<T>(T module, string name, PruningAmount amount, Tensor? importanceScores = null) where T : nn.Module =>
        Apply(module, name, new L1Unstructured(amount), importanceScores);

    /// <summary>Prunes <paramref name="amount"/> random channels of <paramref name="name"/> along <paramref name="dim"/>. Returns <paramref name="module"/>.</summary>
    public static T RandomStructured<T>(T module, string name, PruningAmount amount, long dim) where T : nn.Module =>
        Apply(module, name, new RandomStructured(amount, dim));

    /// <summary>
    /// Prunes the <paramref name="amount"/> channels of <paramref name="name"/> along <paramref name="dim"/> whose
    /// <paramref name="importanceScores"/> (the parameter's own values when null) have the smallest L-<paramref name="n"/>
    /// norm; <paramref name="n"/> may be ±<see cref="double.PositiveInfinity"/>. Returns <paramref name="module"/>.
    /// </summary>
    public static T LnStructured<T>(T module, string name, PruningAmount amount, double n, long dim, Tensor? importanceScores = null)
        where T : nn.Module =>
        Apply(module, name, new LnStructured(amount, n, dim), importanceScores);

    /// <summary>Prunes <paramref name="name"/> where <paramref name="mask"/> is zero. Returns <paramref name="module"/>.</summary>
    public static T CustomFromMask<T>(T module, string name, Tensor mask) where T : nn.Module =>
        Apply(module, name, new CustomFromMask(mask));

    /// <summary>
    /// Applies any <paramref name="method"/> to <paramref name="name"/> of <paramref name="module"/> (PyTorch's
    /// <c>Method.apply</c>). A method instance prunes one tensor; create one per call. Returns <paramref name="module"/>.
    /// </summary>
    public static T Apply<T>(T module, string name, PruningMethod method, Tensor? importanceScores = null) where T : nn.Module
    {
        Reparametrization.Apply(module, name, method, importanceScores);
        return module;
    }

    /// <summary>
    /// Prunes several tensors as one (PyTorch's <c>global_unstructured</c>): <paramref name="method"/>, an unstructured method,
    /// ranks the entries of all <paramref name="parameters"/> together (their <paramref name="importanceScores"/> where
    /// given, else their current values), on what earlier pruning left of them; each tensor then gets its share of the
    /// mask through <see cref="CustomFromMask{T}"/>.
    /// </summary>
    public static void GlobalUnstructured(
        IReadOnlyList<(nn.Module Module, string Name)> parameters,
        PruningMethod method,
        IReadOnlyDictionary<(nn.Module Module, string Name), Tensor>? importanceScores = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(method);
        if (method.Type != PruningType.Unstructured)
            throw new ArgumentException(
                $"Global pruning ranks entries across tensors, so it takes an unstructured method (L1Unstructured, RandomUnstructured); " +
                $"{method} is {method.Type.ToString().ToLowerInvariant()}.", nameof(method));
        if (parameters.Count == 0) throw new ArgumentException("Global pruning needs at least one (module, parameter name) pair.", nameof(parameters));
        var distinct = parameters.Distinct().Count();
        if (distinct != parameters.Count)
            throw new ArgumentException("A (module, parameter name) pair appears twice in the list for global pruning; list each tensor once.", nameof(parameters));
        using var scope = torch.NewDisposeScope();
        var currents = parameters.Select(p => Reparametrization.Current(p.Module, p.Name)).ToList();
        Tensor finalMask;
        using (torch.no_grad())
        {
            var scores = torch.cat(parameters.Select((p, i) =>
            {
                if (importanceScores is null || !importanceScores.TryGetValue(p, out var s)) return currents[i].reshape(-1);
                PruningMethod.RequireSameShape(s, currents[i], $"importance scores for '{p.Name}'", "the parameter");
                return s.reshape(-1);
            }).ToList());
            var defaults = torch.cat(parameters.Select((p, i) =>
                (Reparametrization.MaskOf(p.Module, p.Name) ?? torch.ones_like(currents[i])).to(scores.dtype).reshape(-1)).ToList());
            method.TensorName ??= "global";
            var container = new PruningContainer(method);
            finalMask = container.ComputeMask(scores, defaults);
        }
        long at = 0;
        for (int i = 0; i < parameters.Count; i++)
        {
            long n = currents[i].numel();
            var share = finalMask.narrow(0, at, n).view_as(currents[i]);
            Apply(parameters[i].Module, parameters[i].Name, new CustomFromMask(share));
            at += n;
        }
    }

    /// <summary>
    /// Makes the pruning of <paramref name="name"/> permanent: parameter <c>name</c> (the same object as <c>name_orig</c>)
    /// keeps the masked values; the mask, the hook and the <c>_orig</c>/<c>_mask</c> names go. Throws when it is not pruned.
    /// Returns <paramref name="module"/>.
    /// </summary>
    public static T Remove<T>(T module, string name) where T : nn.Module
    {
        Reparametrization.Remove(module, name);
        return module;
    }

    /// <summary>True when <paramref name="module"/> or any module inside it has a pruned tensor.</summary>
    public static bool IsPruned(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        return Reparametrization.HasPrunedTensor(module) || module.modules().Any(Reparametrization.HasPrunedTensor);
    }

    /// <summary>The method pruning <paramref name="name"/> of <paramref name="module"/> (a <see cref="PruningContainer"/> after two or more), or null.</summary>
    public static PruningMethod? MethodOf(nn.Module module, string name) => Reparametrization.MethodOf(module, name);

    /// <summary>The tensor <paramref name="name"/> as the module's forward last saw it (the pruned value once pruned).</summary>
    public static Tensor TensorOf(nn.Module module, string name) => Reparametrization.Current(module, name);
}
