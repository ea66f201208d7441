using TorchSharp;
using static TorchSharp.torch;

namespace Trainer.Core.Analysis.Sensitivity;

/// <summary>Finds a model's layers by name, in PyTorch's module order.</summary>
internal static class ModelLayers
{
    /// <summary>
    /// Every sub-module with its dotted name, depth first in registration order (PyTorch's
    /// <c>named_modules()</c> order; TorchSharp's own <c>named_modules()</c> lists all direct children
    /// before any grandchild). A module registered twice is listed once, under its first name.
    /// </summary>
    public static IReadOnlyList<(string Name, nn.Module Module)> Named(nn.Module model)
    {
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance) { model };
        var list = new List<(string, nn.Module)>();
        Visit(model, "", seen, list);
        return list;
    }

    private static void Visit(nn.Module parent, string prefix, HashSet<nn.Module> seen, List<(string, nn.Module)> list)
    {
        foreach (var (name, child) in parent.named_children())
        {
            if (!seen.Add(child)) continue;
            var full = prefix.Length == 0 ? name : prefix + "." + name;
            list.Add((full, child));
            Visit(child, full, seen, list);
        }
    }

    /// <summary>The Conv2d layers (and Linear layers when asked), in model order.</summary>
    public static IReadOnlyList<(string Name, nn.Module<Tensor, Tensor> Layer)> Prunable(nn.Module model, bool includeLinear) =>
        Named(model)
            .Where(m => m.Module is TorchSharp.Modules.Conv2d || (includeLinear && m.Module is TorchSharp.Modules.Linear))
            .Select(m => (m.Name, (nn.Module<Tensor, Tensor>)m.Module))
            .ToList();
}
