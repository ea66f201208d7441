namespace Plugins.Pruners;

/// <summary>A layer a config list selects, with the sparsity asked of it.</summary>
/// <param name="Name">Qualified module name.</param>
/// <param name="Type">Module type name ("Conv2d").</param>
/// <param name="Sparsity">sparsity_per_layer, or the shared total_sparsity in mode global.</param>
/// <param name="MaxSparsity">Mode global: the most this layer may lose (NNI's default 0.99); null otherwise.</param>
public sealed record LayerTarget(string Name, string Type, double Sparsity, double? MaxSparsity);

/// <summary>
/// NNI v2.10's canonical form of a config list (config_list_canonical, unfold_config_list, dedupe_config_list): "default"
/// stands for NNI's weighted module types, op_partial_names are completed, each entry selects the modules matching its
/// op_types and op_names, and a later entry (an exclude entry too) claims a layer before an earlier one.
/// </summary>
public static class ConfigResolver
{
    /// <summary>NNI's weighted_modules, what "default" in op_types stands for.</summary>
    public static readonly IReadOnlyList<string> WeightedModules =
        ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Linear", "Bilinear", "PReLU",
         "Embedding", "EmbeddingBag"];

    /// <summary>The layers selected, in model order.</summary>
    /// <param name="entries">The config list.</param>
    /// <param name="modules">Every module of the model (root excluded) as (qualified name, type name), in model order.</param>
    /// <param name="supportedTypes">Types this pruner can prune; an op_types entry outside them is an error.</param>
    /// <param name="global">True for mode global (entries need total_sparsity), false for per-layer sparsity.</param>
    /// <param name="settingKey">Names the config list in errors.</param>
    /// <exception cref="ArgumentException">An unknown op type, an op_name the model does not have (with the closest
    /// names), a selected layer of a type the pruner cannot prune, an entry of the other mode's kind, total sparsities that
    /// differ, or nothing selected.</exception>
    public static IReadOnlyList<LayerTarget> Resolve(IReadOnlyList<ConfigEntry> entries, IReadOnlyList<(string Name, string Type)> modules,
        IReadOnlyCollection<string> supportedTypes, bool global, string settingKey)
    {
        var byName = modules.ToDictionary(m => m.Name, m => m.Type, StringComparer.Ordinal);
        var unfolded = entries.Select((entry, i) => Unfold(entry, $"{settingKey}[{i}]", modules, byName, supportedTypes)).ToList();

        // dedupe_config_list: walk backwards; each entry keeps the names no later entry claimed.
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var kept = new (ConfigEntry Entry, List<string> Names, string Where)[entries.Count];
        for (var i = entries.Count - 1; i >= 0; i--)
        {
            var names = unfolded[i].Where(n => !claimed.Contains(n)).ToList();
            claimed.UnionWith(unfolded[i]);
            kept[i] = (entries[i], names, $"{settingKey}[{i}]");
        }

        var targets = new Dictionary<string, LayerTarget>(StringComparer.Ordinal);
        foreach (var (entry, names, where) in kept)
        {
            if (entry.Exclude) continue;
            if (global != entry.TotalSparsity is not null)
                throw new ArgumentException(global
                    ? $"{where}: mode global prunes to one total_sparsity (with max_sparsity_per_layer); sparsity_per_layer is for modes normal and dependency_aware"
                    : $"{where}: total_sparsity needs mode global; modes normal and dependency_aware take sparsity_per_layer", where);
            foreach (var name in names)
            {
                var type = byName[name];
                if (!supportedTypes.Contains(type))
                    throw new ArgumentException($"{where} selects '{name}', a {type}; this pruner prunes {string.Join(", ", supportedTypes)}", where);
                targets[name] = global
                    ? new LayerTarget(name, type, entry.TotalSparsity!.Value, entry.MaxSparsityPerLayer ?? 0.99)
                    : new LayerTarget(name, type, entry.SparsityPerLayer!.Value, null);
            }
        }
        if (targets.Count == 0)
            throw new ArgumentException($"{settingKey} selects no layer the pruner can prune ({string.Join(", ", supportedTypes)})", settingKey);
        if (global && targets.Values.Select(t => t.Sparsity).Distinct().Count() > 1)
            throw new ArgumentException($"{settingKey}: mode global needs one total_sparsity for every selected layer (NNI's global allocator)", settingKey);
        return modules.Where(m => targets.ContainsKey(m.Name)).Select(m => targets[m.Name]).ToList();
    }

    /// <summary>The model-free part of <see cref="Resolve"/>'s checks, for a compressor's CheckSettings: every op type of a
    /// selecting entry must be one the pruner can prune (or "default").</summary>
    /// <exception cref="ArgumentException">An unknown op type, naming the entry.</exception>
    public static void CheckOpTypes(IReadOnlyList<ConfigEntry> entries, IReadOnlyCollection<string> supportedTypes, string settingKey)
    {
        for (var i = 0; i < entries.Count; i++)
            foreach (var type in entries[i].Exclude ? [] : entries[i].OpTypes ?? [])
                if (type != "default" && !supportedTypes.Contains(type))
                    throw new ArgumentException($"{settingKey}[{i}].op_types: unknown op type '{type}'; this pruner prunes " +
                        $"{string.Join(", ", supportedTypes)} (module type names, as NNI writes them)", $"{settingKey}[{i}]");
    }

    private static List<string> Unfold(ConfigEntry entry, string where, IReadOnlyList<(string Name, string Type)> modules,
        Dictionary<string, string> byName, IReadOnlyCollection<string> supportedTypes)
    {
        HashSet<string>? types = null;
        if (entry.OpTypes is not null)
        {
            types = new HashSet<string>(StringComparer.Ordinal);
            foreach (var type in entry.OpTypes)
            {
                if (type == "default") types.UnionWith(WeightedModules);
                else if (supportedTypes.Contains(type) || entry.Exclude && byName.ContainsValue(type)) types.Add(type);
                else
                    throw new ArgumentException($"{where}.op_types: unknown op type '{type}'; this pruner prunes " +
                        $"{string.Join(", ", supportedTypes)} (module type names, as NNI writes them)", where);
            }
        }
        HashSet<string>? names = null;
        if (entry.OpNames is not null || entry.OpPartialNames is not null)
        {
            names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in entry.OpNames ?? [])
            {
                if (!byName.ContainsKey(name))
                    throw new ArgumentException($"{where}.op_names: the model has no module '{name}'; closest: " +
                        $"{string.Join(", ", Closest(name, byName.Keys))}", where);
                names.Add(name);
            }
            foreach (var partial in entry.OpPartialNames ?? [])
                names.UnionWith(modules.Where(m => m.Name.Contains(partial, StringComparison.Ordinal)).Select(m => m.Name));
        }
        // An entry with neither key selects what the pruner can prune (NNI would also wrap containers; nothing to prune there).
        return modules.Where(m => (types?.Contains(m.Type) ?? (names is not null || supportedTypes.Contains(m.Type)))
                                  && (names?.Contains(m.Name) ?? true))
            .Select(m => m.Name).ToList();
    }

    /// <summary>The three names nearest to <paramref name="name"/> by edit distance.</summary>
    internal static IEnumerable<string> Closest(string name, IEnumerable<string> candidates) =>
        candidates.Where(c => c.Length > 0).OrderBy(c => Distance(name, c)).ThenBy(c => c, StringComparer.Ordinal).Take(3);

    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            previous = current;
        }
        return previous[b.Length];
    }
}
