using System.Reflection;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Pruning.TorchPrune;

/// <summary>
/// PyTorch's pruning reparametrisation on a TorchSharp module: parameter <c>name</c> moves to <c>name_orig</c> (the same
/// Parameter object), the mask becomes buffer <c>name_mask</c>, and a forward pre-hook stores <c>name_orig * name_mask</c>
/// in the field the module's forward reads, so gradients flow to <c>name_orig</c> and masked entries get none.
/// TorchSharp has no attribute lookup, so the pruned value lives in the module's own backing field (found by reference)
/// and the registered names are edited in its parameter and buffer tables (see docs/pruning.md, "TorchSharp").
/// </summary>
internal static class Reparametrization
{
    private sealed class PrunedTensor(PruningMethod method, FieldInfo field, IDisposable hook)
    {
        public PruningMethod Method { get; set; } = method;
        public FieldInfo Field { get; } = field;
        public IDisposable Hook { get; } = hook;
    }

    private sealed class HookHandle(Action remove) : IDisposable
    {
        public void Dispose() => remove();
    }

    private static readonly ConditionalWeakTable<nn.Module, Dictionary<string, PrunedTensor>> Registry = new();

    private static readonly FieldInfo ParamsField =
        typeof(nn.Module).GetField("_internal_params", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new MissingFieldException("TorchSharp's Module no longer has _internal_params; pruning needs this TorchSharp version (0.107).");

    private static readonly FieldInfo BuffersField =
        typeof(nn.Module).GetField("_internal_buffers", BindingFlags.NonPublic | BindingFlags.Instance)
        ?? throw new MissingFieldException("TorchSharp's Module no longer has _internal_buffers; pruning needs this TorchSharp version (0.107).");

    /// <summary>The method (or container) pruning <paramref name="name"/> of <paramref name="module"/>, or null when it is not pruned.</summary>
    public static PruningMethod? MethodOf(nn.Module module, string name) =>
        Registry.TryGetValue(module, out var tensors) && tensors.TryGetValue(name, out var t) ? t.Method : null;

    /// <summary>The names of <paramref name="module"/>'s own pruned tensors.</summary>
    public static IReadOnlyList<string> PrunedNames(nn.Module module) =>
        Registry.TryGetValue(module, out var tensors) ? tensors.Keys.ToList() : [];

    /// <summary>True when <paramref name="module"/> itself has a pruned tensor.</summary>
    public static bool HasPrunedTensor(nn.Module module) => Registry.TryGetValue(module, out var tensors) && tensors.Count > 0;

    /// <summary>
    /// The tensor <paramref name="name"/> as the module's forward sees it: the parameter, or after pruning the last
    /// computed <c>name_orig * name_mask</c> (PyTorch's <c>getattr(module, name)</c>).
    /// </summary>
    public static Tensor Current(nn.Module module, string name)
    {
        if (Registry.TryGetValue(module, out var tensors) && tensors.TryGetValue(name, out var pruned))
            return (Tensor)pruned.Field.GetValue(module)!;
        return ParameterOf(module, name);
    }

    /// <summary>The mask of pruned tensor <paramref name="name"/>, or null when it is not pruned.</summary>
    public static Tensor? MaskOf(nn.Module module, string name) =>
        MethodOf(module, name) is null ? null : Buffers(module)[name + "_mask"];

    /// <summary>
    /// Prunes <paramref name="name"/> of <paramref name="module"/> by <paramref name="method"/>, composing it with earlier
    /// pruning of that tensor in a <see cref="PruningContainer"/>. The mask is computed before anything changes, so a failure
    /// leaves the module as it was.
    /// </summary>
    public static PruningMethod Apply(nn.Module module, string name, PruningMethod method, Tensor? importanceScores)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(method);
        if (method.TensorName is not null && method.TensorName != name)
            throw new ArgumentException($"The pruning method {method} already prunes '{method.TensorName}'; create a new method to prune '{name}'.", nameof(method));
        method.TensorName = name;
        var tensors = Registry.GetOrCreateValue(module);
        using var scope = torch.NewDisposeScope();
        if (tensors.TryGetValue(name, out var pruned))
        {
            var composite = pruned.Method is PruningContainer container ? container.With(method) : new PruningContainer(pruned.Method).With(method);
            var current = (Tensor)pruned.Field.GetValue(module)!;
            var mask = Buffers(module)[name + "_mask"];
            using (torch.no_grad())
                mask.copy_(composite.ComputeMask(CheckedScores(importanceScores, current, module, name), mask.detach().clone()));
            pruned.Method = composite;
            Recompute(module, name, pruned.Field);
            return composite;
        }

        var parameter = ParameterOf(module, name);
        var field = BackingField(module, parameter, name);
        if (module is not nn.Module<Tensor, Tensor> hookable)
            throw new NotSupportedException(
                $"{Describe(module)} is not a single-input module (Module<Tensor, Tensor>), so no forward pre-hook can recompute '{name}'; " +
                "prune the layers inside it (Linear, Conv, norms) instead.");
        Tensor firstMask;
        using (torch.no_grad())
            firstMask = method.ComputeMask(CheckedScores(importanceScores, parameter, module, name), torch.ones_like(parameter));
        // Commit: nothing above changed the module.
        Params(module).Remove(name);
        module.register_parameter(name + "_orig", parameter);
        module.register_buffer(name + "_mask", firstMask.detach().DetachFromDisposeScope());
        var remover = hookable.register_forward_pre_hook((m, _) =>
        {
            Recompute(m, name, field);
            return null!;
        });
        tensors[name] = new PrunedTensor(method, field, new HookHandle(remover.remove));
        Recompute(module, name, field);
        return method;
    }

    /// <summary>
    /// Makes the pruning of <paramref name="name"/> permanent (PyTorch's <c>prune.remove</c>): <c>name_orig</c> takes the
    /// masked values and becomes parameter <c>name</c> again (the same object, so optimizers keep working); the mask buffer
    /// and the hook go.
    /// </summary>
    public static void Remove(nn.Module module, string name)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (!Registry.TryGetValue(module, out var tensors) || !tensors.TryGetValue(name, out var pruned))
            throw new InvalidOperationException(
                $"Parameter '{name}' of {Describe(module)} is not pruned, so there is no pruning to remove; " +
                (HasPrunedTensor(module) ? $"its pruned tensors are {string.Join(", ", tensors!.Keys.Select(k => $"'{k}'"))}." : "prune it first."));
        var orig = Params(module)[name + "_orig"];
        var mask = Buffers(module)[name + "_mask"];
        using (torch.no_grad())
        using (var scope = torch.NewDisposeScope())
            orig.mul_(mask.to(orig.dtype));
        pruned.Hook.Dispose();
        Params(module).Remove(name + "_orig");
        Buffers(module).Remove(name + "_mask");
        var computed = pruned.Field.GetValue(module) as Tensor;
        pruned.Field.SetValue(module, orig);
        if (computed is not null && !ReferenceEquals(computed, orig)) computed.Dispose();
        mask.Dispose();
        module.register_parameter(name, orig);
        tensors.Remove(name);
    }

    /// <summary>Stores <c>name_orig * name_mask</c> in the module's field, disposing the value it replaces.</summary>
    private static void Recompute(nn.Module module, string name, FieldInfo field)
    {
        if (Params(module).ContainsKey(name))
            throw new InvalidOperationException(
                $"Parameter '{name}' of {Describe(module)} was registered again after pruning (TorchSharp's to() of a dtype or " +
                $"device re-registers a layer's own parameters), so '{name}_orig' and '{name}_mask' no longer drive it; " +
                "cast or move a model before pruning it, or Remove the pruning, cast, and prune again.");
        var orig = Params(module)[name + "_orig"];
        var mask = Buffers(module)[name + "_mask"];
        Parameter value;
        using (var scope = torch.NewDisposeScope())
        {
            var product = mask.to(orig.dtype) * orig;
            // A Parameter wrapper because the module's field is typed Parameter; it keeps the product's autograd history.
            value = (Parameter)new Parameter(product, product.requires_grad).DetachFromDisposeScope();
        }
        var old = field.GetValue(module);
        field.SetValue(module, value);
        if (old is Tensor previous && !ReferenceEquals(previous, orig)) previous.Dispose();
    }

    private static Tensor CheckedScores(Tensor? scores, Tensor parameter, nn.Module module, string name)
    {
        if (scores is null) return parameter;
        if (!scores.shape.SequenceEqual(parameter.shape))
            throw new ArgumentException(
                $"The importance scores for '{name}' of {Describe(module)} have shape [{string.Join(", ", scores.shape)}] " +
                $"but the parameter has shape [{string.Join(", ", parameter.shape)}]; give one score per entry.", "importanceScores");
        return scores;
    }

    private static Parameter ParameterOf(nn.Module module, string name)
    {
        var own = module.named_parameters(recurse: false).ToList();
        foreach (var (n, p) in own)
            if (n == name) return p;
        throw new ArgumentException(
            $"{Describe(module)} has no parameter '{name}'; its parameters are " +
            $"{(own.Count == 0 ? "none" : string.Join(", ", own.Select(p => $"'{p.name}'")))}.", nameof(name));
    }

    /// <summary>The instance field of <paramref name="module"/> holding <paramref name="parameter"/>: what its forward reads.</summary>
    private static FieldInfo BackingField(nn.Module module, Parameter parameter, string name)
    {
        for (var type = module.GetType(); type is not null && type != typeof(object); type = type.BaseType)
            foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                if (typeof(Tensor).IsAssignableFrom(field.FieldType) && field.FieldType.IsAssignableFrom(typeof(Parameter))
                    && ReferenceEquals(field.GetValue(module), parameter))
                    return field;
        throw new NotSupportedException(
            $"{Describe(module)} keeps parameter '{name}' in no field of its own, so a pruned value could not reach its forward; " +
            "TorchSharp's layers and user modules that hold each Parameter in a field can be pruned.");
    }

    private static TorchSharp.Utils.OrderedDict<string, Parameter> Params(nn.Module module) =>
        (TorchSharp.Utils.OrderedDict<string, Parameter>)ParamsField.GetValue(module)!;

    private static BufferTable Buffers(nn.Module module) => new((TorchSharp.Utils.OrderedDict<string, (Tensor, bool)>)BuffersField.GetValue(module)!);

    /// <summary>Name lookup and removal on a module's buffer table, whose entries also carry a persistence flag.</summary>
    private readonly struct BufferTable(TorchSharp.Utils.OrderedDict<string, (Tensor Tensor, bool Persistent)> table)
    {
        public Tensor this[string name] => table[name].Tensor;

        public void Remove(string name) => table.Remove(name);
    }

    private static string Describe(nn.Module module) => $"module {module.GetName()}";
}
