using System.Text.Json.Serialization;

namespace Trainer.Core.Compression;

/// <summary>
/// One structural change made through <see cref="ModelEditor"/>. The list of edits, applied in order to a freshly built model
/// of the original architecture (<see cref="EditReplay"/>), gives a model whose state_dict has the compressed model's shapes.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind")]
[JsonDerivedType(typeof(ShrinkEdit), "shrink")]
[JsonDerivedType(typeof(FactorizeEdit), "factorize")]
[JsonDerivedType(typeof(FoldBatchNormEdit), "fold_batchnorm")]
public abstract record ModelEdit;

/// <summary>Output channels of producers were removed; which ones does not matter for the shapes, only how many remain.</summary>
/// <param name="KeptChannelsByProducer">Producer path → output channels kept. Every producer of a shrunk group is listed.</param>
public sealed record ShrinkEdit(IReadOnlyDictionary<string, int> KeptChannelsByProducer) : ModelEdit
{
    /// <summary>"shrink conv2→16, fc1→128".</summary>
    public override string ToString() => "shrink " + string.Join(", ", KeptChannelsByProducer.Select(p => $"{p.Key}→{p.Value}"));
}

/// <summary>A Conv2d or Linear was replaced by a two-layer Sequential of the given rank (see <see cref="LayerFactorizer"/>).</summary>
/// <param name="Layer">Module path of the replaced layer; the new layers are "Layer.0" and "Layer.1".</param>
/// <param name="Rank">Output channels of the first new layer.</param>
public sealed record FactorizeEdit(string Layer, int Rank) : ModelEdit
{
    /// <summary>"factorize fc1 rank 32".</summary>
    public override string ToString() => $"factorize {Layer} rank {Rank}";
}

/// <summary>A BatchNorm2d was folded into the Conv2d before it (<see cref="Inference.BatchNormFolder"/>): the conv has a bias
/// and the BatchNorm is an Identity (or, when its parent's field is typed BatchNorm2d, an identity BatchNorm).</summary>
/// <param name="Conv">Module path of the conv.</param>
/// <param name="BatchNorm">Module path of the folded BatchNorm.</param>
/// <param name="Removed">True when the BatchNorm was replaced by Identity.</param>
public sealed record FoldBatchNormEdit(string Conv, string BatchNorm, bool Removed) : ModelEdit
{
    /// <summary>"fold bn1 into conv1".</summary>
    public override string ToString() => $"fold {BatchNorm} into {Conv}";
}
