using TorchSharp;

namespace Trainer.Abstractions.Compression;

/// <summary>What a compressor returns: the model to use from now on and a report of what it did.</summary>
/// <param name="Model">The compressed model (possibly the request's model, modified in place).</param>
/// <param name="Layers">One note per layer the compressor looked at, in model order.</param>
/// <param name="Summary">One or two sentences a person reads in the run's log.</param>
public sealed record CompressionResult(
    torch.nn.Module<torch.Tensor, torch.Tensor> Model,
    IReadOnlyList<LayerNote> Layers,
    string Summary);

/// <summary>What a compressor did to one layer.</summary>
/// <param name="Layer">The layer's qualified name in the model ("features.0", "fc1").</param>
/// <param name="Note">What happened to it, in words.</param>
public sealed record LayerNote(string Layer, string Note);
