namespace Trainer.Core.Graph;

/// <summary>How the graph treats a layer.</summary>
public enum LayerKind
{
    /// <summary>Conv1d/2d/3d with groups == 1: a producer.</summary>
    Conv,
    /// <summary>Conv1d/2d/3d with groups == in_channels == out_channels: follows its producer's channels 1:1.</summary>
    DepthwiseConv,
    /// <summary>Any other grouped Conv1d/2d/3d: a producer that also constrains its input producers (see <see cref="GroupDependency"/>).</summary>
    GroupedConv,
    /// <summary>Linear: a producer.</summary>
    Linear,
    /// <summary>BatchNorm or InstanceNorm: a per-channel follower.</summary>
    Norm,
    /// <summary>GroupNorm: a follower whose channel count must stay divisible by its group count.</summary>
    GroupNorm,
    /// <summary>ConvTranspose1d/2d/3d with groups == 1: a producer (weight [in, out, kernel...], so outputs are dimension 1).</summary>
    TransposedConv,
    /// <summary>LayerNorm: a follower whose first normalized dimension carries the channels (features).</summary>
    LayerNorm,
    /// <summary>A grouped transposed conv: cut during analysis, never pruned.</summary>
    OtherConv,
    /// <summary>A module with parameters of a type the graph does not know.</summary>
    Unknown,
    /// <summary>A module without parameters (ReLU, pooling, Flatten, Dropout, ...): channels pass through it.</summary>
    Parameterless,
}

/// <summary>One layer that ran during analysis, in execution order.</summary>
public sealed record LayerInfo
{
    /// <summary>Position in execution order (0-based).</summary>
    public required int Index { get; init; }

    /// <summary>Module path, e.g. "layer2.0.downsample.0".</summary>
    public required string Name { get; init; }

    /// <summary>The module's .NET type name, e.g. "Conv2d".</summary>
    public required string Type { get; init; }

    /// <summary>How the graph treats the layer.</summary>
    public required LayerKind Kind { get; init; }

    /// <summary>Shape of the input of its first call.</summary>
    public required IReadOnlyList<long> InputShape { get; init; }

    /// <summary>Shape of the output of its first call (empty if the call did not return).</summary>
    public required IReadOnlyList<long> OutputShape { get; init; }

    /// <summary>How many times the module ran in one forward pass (more than 1 is a <see cref="GraphProblemKind.ModuleReused"/> problem).</summary>
    public int CallCount { get; init; } = 1;

    /// <summary>Convolution in_channels.</summary>
    public long? InChannels { get; init; }

    /// <summary>Convolution out_channels.</summary>
    public long? OutChannels { get; init; }

    /// <summary>Convolution groups.</summary>
    public long? Groups { get; init; }

    /// <summary>Linear in_features.</summary>
    public long? InFeatures { get; init; }

    /// <summary>Linear out_features.</summary>
    public long? OutFeatures { get; init; }

    /// <summary>BatchNorm/InstanceNorm num_features, GroupNorm num_channels, LayerNorm normalized_shape[0].</summary>
    public long? NumFeatures { get; init; }

    /// <summary>GroupNorm num_groups.</summary>
    public long? NumGroups { get; init; }

    /// <summary>Output channels (convolutions), output features (Linear) or features (norms); null otherwise.</summary>
    public long? Channels => OutChannels ?? OutFeatures ?? NumFeatures;

    /// <summary>True for Conv, GroupedConv, TransposedConv and Linear: layers whose output channels can be pruned.</summary>
    public bool IsProducerKind => Kind is LayerKind.Conv or LayerKind.GroupedConv or LayerKind.TransposedConv or LayerKind.Linear;

    /// <summary>Short description, e.g. "conv1 Conv2d [1,64,112,112]".</summary>
    public override string ToString() => $"{Name} {Type} {Shapes.Format(OutputShape)}";
}
