using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Trainer.Core.Graph;

/// <summary>A module of the analysed model with its path and how the graph treats it.</summary>
internal sealed class CatalogEntry(nn.Module module, string name, LayerKind kind, bool isLayer, bool isRoot)
{
    /// <summary>The module.</summary>
    public nn.Module Module { get; } = module;

    /// <summary>Module path ("layer1.0.conv1"); "(model)" for the root.</summary>
    public string Name { get; } = name;

    /// <summary>How the graph treats it.</summary>
    public LayerKind Kind { get; } = kind;

    /// <summary>True for leaves and for inner containers with parameters of their own: the graph's layers.</summary>
    public bool IsLayer { get; } = isLayer;

    /// <summary>True for the model itself.</summary>
    public bool IsRoot { get; } = isRoot;

    /// <summary>The module as a hookable single-tensor module, or null.</summary>
    public nn.Module<Tensor, Tensor>? Hookable => Module as nn.Module<Tensor, Tensor>;

    /// <summary>True when NaN arriving at its input must be recorded.</summary>
    public bool IsTarget => IsLayer && Kind != LayerKind.Parameterless;

    /// <summary>Layers whose output is replaced by zeros (or the marker) in analysis passes.</summary>
    public bool IsCut => IsLayer && Kind is LayerKind.Conv or LayerKind.GroupedConv or LayerKind.TransposedConv or LayerKind.Linear
        or LayerKind.OtherConv;

    /// <summary>
    /// The dimension holding channels in a tensor of rank <paramref name="rank"/>: the last for Linear (features), the first
    /// normalized one for LayerNorm (its weight's dimension 0), otherwise 1 (0 for unbatched vectors).
    /// </summary>
    public long ChannelDim(long rank) => Kind switch
    {
        LayerKind.Linear => rank - 1,
        LayerKind.LayerNorm when Module is LayerNorm norm => Math.Max(0, rank - norm.normalized_shape.Length),
        _ => rank >= 2 ? 1 : 0,
    };
}

/// <summary>Lists a model's modules with their paths and classifies them.</summary>
internal sealed class ModuleCatalog
{
    private readonly Dictionary<nn.Module, CatalogEntry> byModule = new(ReferenceEqualityComparer.Instance);

    /// <summary>All modules, root first, then in named_modules order (first path wins for shared instances).</summary>
    public IReadOnlyList<CatalogEntry> Entries { get; }

    private ModuleCatalog(List<CatalogEntry> entries)
    {
        Entries = entries;
        foreach (var e in entries) byModule.TryAdd(e.Module, e);
    }

    /// <summary>The entry of a module.</summary>
    public CatalogEntry this[nn.Module module] => byModule[module];

    /// <summary>Builds the catalog of <paramref name="model"/>.</summary>
    public static ModuleCatalog Of(nn.Module<Tensor, Tensor> model)
    {
        var entries = new List<CatalogEntry> { Entry(model, "(model)", isRoot: true) };
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance) { model };
        foreach (var (name, module) in model.named_modules())
            if (seen.Add(module)) entries.Add(Entry(module, name, isRoot: false));
        return new ModuleCatalog(entries);
    }

    private static CatalogEntry Entry(nn.Module module, string name, bool isRoot)
    {
        bool leaf = !module.named_children().Any();
        bool ownParameters = module.named_parameters(recurse: false).Any();
        var kind = Classify(module, ownParameters);
        bool isLayer = leaf || (ownParameters && !isRoot);
        return new CatalogEntry(module, name, kind, isLayer, isRoot);
    }

    /// <summary>The graph's view of a module type.</summary>
    public static LayerKind Classify(nn.Module module, bool ownParameters) => module switch
    {
        ConvolutionTranspose c when c.groups == 1 => LayerKind.TransposedConv,
        ConvolutionTranspose => LayerKind.OtherConv,
        Convolution c when c.groups == 1 => LayerKind.Conv,
        Convolution c when c.groups == c.in_channels && c.groups == c.out_channels => LayerKind.DepthwiseConv,
        Convolution => LayerKind.GroupedConv,
        Linear => LayerKind.Linear,
        NormBase => LayerKind.Norm,
        GroupNorm => LayerKind.GroupNorm,
        LayerNorm => LayerKind.LayerNorm,
        _ => ownParameters ? LayerKind.Unknown : LayerKind.Parameterless,
    };

    /// <summary>The layer description of a module that ran.</summary>
    public static LayerInfo Describe(CatalogEntry e, int index, IReadOnlyList<long> input, IReadOnlyList<long> output, int calls)
    {
        var info = new LayerInfo
        {
            Index = index, Name = e.Name, Type = e.Module.GetType().Name, Kind = e.Kind,
            InputShape = input, OutputShape = output, CallCount = calls,
        };
        return e.Module switch
        {
            Convolution c => info with { InChannels = c.in_channels, OutChannels = c.out_channels, Groups = c.groups },
            Linear l => info with { InFeatures = l.in_features, OutFeatures = l.out_features },
            NormBase n => info with { NumFeatures = n.num_features },
            GroupNorm g => info with { NumFeatures = g.weight?.shape[0] ?? (input.Count > 1 ? input[1] : null), NumGroups = g.num_groups },
            LayerNorm n => info with { NumFeatures = n.normalized_shape.FirstOrDefault() },
            _ => info,
        };
    }
}
