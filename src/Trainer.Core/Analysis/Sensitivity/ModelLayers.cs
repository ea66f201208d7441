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

    /// <summary>The <paramref name="count"/> candidates closest to <paramref name="name"/> by edit distance (ties in candidate order).</summary>
    public static IReadOnlyList<string> Closest(string name, IEnumerable<string> candidates, int count = 3) =>
        candidates.Select((c, i) => (c, i, d: EditDistance(name, c)))
            .OrderBy(x => x.d).ThenBy(x => x.i)
            .Take(count).Select(x => x.c).ToList();

    /// <summary>Levenshtein distance (insertions, deletions and substitutions cost 1).</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
