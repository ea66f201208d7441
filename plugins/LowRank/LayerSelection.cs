using Trainer.Abstractions.Compression;

namespace Plugins.LowRank;

/// <summary>
/// The layers the low-rank compressor works on: the editor's Conv2d layers (and Linears with include_linear) that
/// "layers"/"exclude" select, plus every layer "ranks" names. Checks every name and rank against the model, so bad
/// settings fail before the first edit.
/// </summary>
/// <param name="Layers">Layers to plan ranks for, in model order.</param>
/// <param name="Notes">Notes for selected layers that cannot be factorized (grouped convs).</param>
/// <param name="ModelOrder">Layer name → position in the model.</param>
public sealed record LayerSelection(IReadOnlyList<FactorizableLayer> Layers, IReadOnlyList<LayerNote> Notes,
    IReadOnlyDictionary<string, int> ModelOrder)
{
    private const string SelectorKeys = "Compression:Settings:layers/exclude";
    private const string RanksKey = "Compression:Settings:ranks";

    /// <summary>Position of <paramref name="layer"/> in the model (for ordering notes).</summary>
    public int Order(string layer) => ModelOrder.TryGetValue(layer, out var i) ? i : int.MaxValue;

    /// <summary>Resolves the selection; throws <see cref="ArgumentException"/> naming the key on an unknown layer,
    /// a rank outside [1, full rank], a grouped layer in ranks, or a Linear asked for without include_linear.</summary>
    public static LayerSelection Resolve(IReadOnlyList<WeightLayerInfo> modelLayers, LowRankSettings settings)
    {
        var names = modelLayers.Select(l => l.Name).ToList();
        settings.Selector.ThrowOnUnmatched(names, SelectorKeys);
        if (!settings.IncludeLinear)
            foreach (var pattern in settings.Selector.Names)
            {
                var one = new LayerSelector([pattern], [], []);
                if (modelLayers.Where(l => one.Selects(l.Name, l.Type)).All(l => l.Type == "Linear"))
                    throw new ArgumentException(
                        $"Compression:Settings:layers names '{pattern}', which selects only Linear layers, but include_linear is false; " +
                        "set Compression:Settings:include_linear=true to factorize Linear layers");
            }
        CheckRanks(modelLayers, settings);

        var layers = new List<FactorizableLayer>();
        var notes = new List<LayerNote>();
        foreach (var info in modelLayers)
        {
            var isExplicit = settings.ExplicitRanks.ContainsKey(info.Name);
            var selected = isExplicit || settings.Selector.Selects(info.Name, info.Type)
                && (info.Type == "Conv2d" || settings.IncludeLinear);
            if (!selected || info.Type is not ("Conv2d" or "Linear")) continue;
            var layer = FactorizableLayer.From(info, out var whyNot);
            if (layer is null) notes.Add(new LayerNote(info.Name, $"{info.Type}: skipped: {whyNot}"));
            else layers.Add(layer);
        }
        var order = modelLayers.Select((l, i) => (l.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
        return new LayerSelection(layers, notes, order);
    }

    private static void CheckRanks(IReadOnlyList<WeightLayerInfo> modelLayers, LowRankSettings settings)
    {
        foreach (var (name, rank) in settings.ExplicitRanks)
        {
            var info = modelLayers.FirstOrDefault(l => l.Name == name)
                       ?? throw new ArgumentException(
                           $"{RanksKey} names layer '{name}', which the model does not have; its Conv2d/Linear layers are " +
                           string.Join(", ", modelLayers.Take(12).Select(l => l.Name)) + (modelLayers.Count > 12 ? ", ..." : ""));
            if (settings.Selector.Exclude.Count > 0 && !new LayerSelector([], [], settings.Selector.Exclude).Selects(name, info.Type))
                throw new ArgumentException(
                    $"{RanksKey} gives layer '{name}' a rank, but Compression:Settings:exclude excludes it; drop one of the two");
            var layer = FactorizableLayer.From(info, out var whyNot)
                        ?? throw new ArgumentException($"{RanksKey} names layer '{name}', but it cannot be factorized: {whyNot}");
            if (rank < 1 || rank > layer.FullRank)
                throw new ArgumentException(
                    $"{RanksKey} gives layer '{name}' rank {rank}, but its full rank is {layer.FullRank} " +
                    $"(min(out {layer.Rows}, in·k·k {layer.Columns})); use a rank in [1, {layer.FullRank}]");
        }
    }
}
